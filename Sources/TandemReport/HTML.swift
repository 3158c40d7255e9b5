/// Markup built by appending, where every piece of text from outside (a
/// feature name, a run file, a hostname) goes through `escape` and only the
/// builder's own tags are written raw.
public struct HTML: Sendable {
  public private(set) var markup = ""

  public init() {}

  /// Text safe in element content and in double- or single-quoted attribute values.
  public static func escape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for c in text.unicodeScalars {
      if let entity = entities[c] { out += entity } else { out.unicodeScalars.append(c) }
    }
    return out
  }

  private static let entities: [Unicode.Scalar: String] = ["&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"]

  /// Appends markup as is: only for what this module generated (SVG charts, tables).
  public mutating func raw(_ markup: String) {
    self.markup += markup
  }

  public mutating func text(_ text: String) {
    markup += Self.escape(text)
  }

  public mutating func element(_ name: String, _ attributes: [(String, String)] = [], _ content: (inout HTML) -> Void) {
    open(name, attributes)
    content(&self)
    markup += "</\(name)>"
  }

  public mutating func element(_ name: String, _ attributes: [(String, String)] = [], text: String) {
    open(name, attributes)
    markup += Self.escape(text)
    markup += "</\(name)>"
  }

  /// An element without content or end tag (`img`, `br`).
  public mutating func void(_ name: String, _ attributes: [(String, String)]) {
    open(name, attributes)
  }

  /// A table of text cells; columns listed in `numeric` are right-aligned,
  /// rows listed in `highlighted` are marked (the chosen threshold).
  public mutating func table(header: [String], rows: [[String]], numeric: Set<Int> = [], highlighted: Set<Int> = [],
                             className: String? = nil) {
    element("table", className.map { [("class", $0)] } ?? []) { t in
      t.element("thead") { h in
        h.element("tr") { r in
          for (i, cell) in header.enumerated() { r.element("th", numeric.contains(i) ? [("class", "num")] : [], text: cell) }
        }
      }
      t.element("tbody") { b in
        for (index, row) in rows.enumerated() {
          b.element("tr", highlighted.contains(index) ? [("class", "highlight")] : []) { r in
            for (i, cell) in row.enumerated() { r.element("td", numeric.contains(i) ? [("class", "num")] : [], text: cell) }
          }
        }
      }
    }
  }

  private mutating func open(_ name: String, _ attributes: [(String, String)]) {
    markup += "<\(name)"
    for (key, value) in attributes { markup += " \(key)=\"\(Self.escape(value))\"" }
    markup += ">"
  }
}
