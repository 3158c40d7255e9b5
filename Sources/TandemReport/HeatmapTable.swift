import Foundation

/// A table whose cells are shaded by value (a confusion matrix): numbers stay
/// readable and copyable, and the shading shows where the mass is. Each cell
/// also shows its share of its row, which for a confusion matrix is the
/// per-class recall on the diagonal.
public struct HeatmapTable: Sendable {
  public var caption: String
  public var rowTitle: String
  public var columnTitle: String
  public var rowLabels: [String]
  public var columnLabels: [String]
  public var counts: [[Int]]

  public init(caption: String, rowTitle: String, columnTitle: String, rowLabels: [String], columnLabels: [String], counts: [[Int]]) {
    self.caption = caption
    self.rowTitle = rowTitle
    self.columnTitle = columnTitle
    self.rowLabels = rowLabels
    self.columnLabels = columnLabels
    self.counts = counts
  }

  public func html() -> String {
    let largest = max(1, counts.flatMap { $0 }.max() ?? 1)
    var h = HTML()
    h.element("div", [("class", "heatmap-wrap")]) { wrap in
      wrap.element("table", [("class", "heatmap")]) { t in
        t.element("caption", text: caption)
        t.element("tr") { r in
          r.element("th", text: "\(rowTitle) \\ \(columnTitle)")
          for label in columnLabels { r.element("th", text: label) }
        }
        for (i, row) in counts.enumerated() {
          let rowTotal = row.reduce(0, +)
          t.element("tr") { r in
            r.element("th", text: i < rowLabels.count ? rowLabels[i] : "\(i)")
            for value in row {
              let alpha = Double(value) / Double(largest)
              let style = String(format: "background: rgba(0, 114, 178, %.3f); color: %@", 0.08 + 0.85 * alpha, alpha > 0.5 ? "#fff" : "#111")
              let share = rowTotal == 0 ? "" : String(format: " (%.1f%%)", 100 * Double(value) / Double(rowTotal))
              r.element("td", [("class", "num"), ("style", style)], text: "\(value)\(share)")
            }
          }
        }
      }
      // The colour scale: what a shade means, from none to the largest cell.
      wrap.element("div", [("class", "scale"), ("aria-label", "colour scale, 0 to \(largest)")]) { s in
        s.element("span", text: "\(largest)")
        s.element("div", [("class", "bar")], text: "")
        s.element("span", text: "0")
      }
    }
    return h.markup
  }
}
