import Foundation

/// The one JSON text of a value, so that equal values hash equally on every
/// machine and Foundation version (JSONEncoder promises neither its escaping
/// nor its number formatting).
///
/// Rules: object keys sorted by their UTF-8 bytes; no whitespace; strings as
/// UTF-8 with only `"`, `\` and control characters escaped (`\b \f \n \r \t`,
/// else `\u00xx` in lower-case hex); integers in decimal with no sign for
/// non-negative values and no leading zeros. There are no floating-point
/// numbers: snapshots carry floating-point settings as strings, exactly as
/// written, so no formatting question arises. The result equals Python's
/// `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`,
/// so a snapshot id can be checked without Tandem.
public indirect enum CanonicalJSON: Equatable, Sendable {
  case string(String)
  case integer(Int64)
  case unsigned(UInt64)
  case bool(Bool)
  case null
  case array([CanonicalJSON])
  case object([String: CanonicalJSON])

  public var text: String {
    var out = ""
    write(to: &out)
    return out
  }

  private func write(to out: inout String) {
    switch self {
    case .string(let s): Self.writeString(s, to: &out)
    case .integer(let i): out += String(i)
    case .unsigned(let u): out += String(u)
    case .bool(let b): out += b ? "true" : "false"
    case .null: out += "null"
    case .array(let items):
      out += "["
      for (k, item) in items.enumerated() {
        if k > 0 { out += "," }
        item.write(to: &out)
      }
      out += "]"
    case .object(let members):
      out += "{"
      let keys = members.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
      for (k, key) in keys.enumerated() {
        if k > 0 { out += "," }
        Self.writeString(key, to: &out)
        out += ":"
        members[key]!.write(to: &out)
      }
      out += "}"
    }
  }

  private static func writeString(_ s: String, to out: inout String) {
    out += "\""
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\u{08}": out += "\\b"
      case "\u{0C}": out += "\\f"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: out.unicodeScalars.append(scalar)
      }
    }
    out += "\""
  }
}
