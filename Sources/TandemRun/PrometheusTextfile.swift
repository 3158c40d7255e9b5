import Foundation
import TandemData

/// Metrics in Prometheus's text exposition format, for node_exporter's
/// textfile collector: a `NAME.prom` file replaced atomically (written to a
/// temporary name the collector ignores, then renamed), so a scrape never
/// sees half a file.
public struct PrometheusTextfile {
  private struct Family { var help: String; var samples: [(labels: [(String, String)], value: Double)] }
  private var families: [(name: String, family: Family)] = []

  public init() {}

  /// One gauge sample; samples of one name share its HELP and TYPE lines.
  public mutating func gauge(_ name: String, _ help: String, _ value: Double, labels: [(String, String)] = []) {
    precondition(Self.isValidName(name), "metric name \(name)")
    if let i = families.firstIndex(where: { $0.name == name }) {
      families[i].family.samples.append((labels, value))
    } else {
      families.append((name, Family(help: help, samples: [(labels, value)])))
    }
  }

  public var text: String {
    var out = ""
    for (name, family) in families {
      out += "# HELP \(name) \(family.help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n"))\n"
      out += "# TYPE \(name) gauge\n"
      for sample in family.samples {
        let labels = sample.labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",")
        out += name + (labels.isEmpty ? "" : "{\(labels)}") + " " + Self.format(sample.value) + "\n"
      }
    }
    return out
  }

  /// Writes `DIRECTORY/NAME.prom` atomically.
  public func write(directory: String, name: String) throws {
    try AtomicFile.write(Data(text.utf8), to: directory + "/" + name + ".prom")
  }

  /// Label values escape backslash, double quote and newline.
  static func escape(_ value: String) -> String {
    value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
      .replacingOccurrences(of: "\n", with: "\\n")
  }

  static func format(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return String(value)
  }

  static func isValidName(_ name: String) -> Bool {
    guard let first = name.unicodeScalars.first, first.properties.isAlphabetic || first == "_" || first == ":" else { return false }
    return name.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "_" || $0 == ":" }
  }

  /// A directory the metrics go to: it must exist and be a directory, checked
  /// before any work so a typo fails at once rather than at the first write.
  public static func checkDirectory(_ path: String) throws(DataError) {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw DataError(path: path, message: "no such directory for Prometheus metrics (metrics_dir / --metrics-dir)")
    }
  }
}
