import Foundation

/// A horizontal bar chart as inline SVG, one bar per label, each bar a stack
/// of segments (compute / data wait / allreduce per rank; one segment for
/// feature importance). Positive segments stack right of zero, negative ones
/// left of it, so a permutation importance below zero shows as such.
///
/// Non-finite values are left out. A chart where nothing has a width is a
/// `chart-empty` placeholder, as for `LineChart`.
public struct BarChart: Sendable {
  public struct Bar: Sendable {
    public var label: String
    public var values: [Double]

    public init(label: String, values: [Double]) {
      self.label = label
      self.values = values
    }
  }

  public var title: String
  public var valueLabel: String
  /// One name per segment, for the legend.
  public var segmentNames: [String]
  public var bars: [Bar]
  public var width = 640.0
  /// Digits after the point in each bar's total, written after it.
  public var decimals = 2

  public init(title: String, valueLabel: String, segmentNames: [String], bars: [Bar]) {
    self.title = title
    self.valueLabel = valueLabel
    self.segmentNames = segmentNames
    self.bars = bars
  }

  public var hasData: Bool { bars.contains { $0.values.contains { $0.isFinite && $0 != 0 } } }

  public func svg() -> String {
    guard hasData else { return emptyChart(title: title, width: width) }
    let rowHeight = 22.0, top = segmentNames.count > 1 ? 52.0 : 36.0
    let height = top + Double(bars.count) * rowHeight + 40
    let longest = bars.map(\.label.count).max() ?? 0
    let left = min(220, max(60, Double(longest) * 6.6 + 12)), right = width - 64
    let extents = bars.map { bar -> (Double, Double) in
      let finite = bar.values.filter(\.isFinite)
      return (finite.filter { $0 < 0 }.reduce(0, +), finite.filter { $0 > 0 }.reduce(0, +))
    }
    let axis = Axis(values: extents.flatMap { [$0.0, $0.1] }, includeZero: true)
    func px(_ v: Double) -> Double { axis.position(v, from: left, to: right) }
    let bottom = top + Double(bars.count) * rowHeight

    var out = svgOpen(title: title, width: width, height: height)
    out += "<text class=\"title\" x=\"8\" y=\"20\">\(HTML.escape(title))</text>"
    for t in axis.ticks {
      let x = svgNumber(px(t))
      out += "<line class=\"grid\" x1=\"\(x)\" x2=\"\(x)\" y1=\"\(svgNumber(top))\" y2=\"\(svgNumber(bottom))\"/>"
      out += "<text class=\"tick\" x=\"\(x)\" y=\"\(svgNumber(bottom + 16))\" text-anchor=\"middle\">\(axis.label(t))</text>"
    }
    for (row, bar) in bars.enumerated() {
      let y = top + Double(row) * rowHeight
      let label = bar.label.count > 32 ? String(bar.label.prefix(31)) + "…" : bar.label
      out += "<text class=\"tick\" x=\"\(svgNumber(left - 6))\" y=\"\(svgNumber(y + rowHeight / 2))\" text-anchor=\"end\" "
        + "dominant-baseline=\"middle\">\(HTML.escape(label))<title>\(HTML.escape(bar.label))</title></text>"
      var positive = 0.0, negative = 0.0
      for (i, value) in bar.values.enumerated() where value.isFinite && value != 0 {
        let start = value > 0 ? positive : negative + value
        if value > 0 { positive += value } else { negative += value }
        let x0 = px(start), x1 = px(start + abs(value))
        let name = i < segmentNames.count ? segmentNames[i] : ""
        out += "<rect class=\"mark\" x=\"\(svgNumber(x0))\" y=\"\(svgNumber(y + 3))\" width=\"\(svgNumber(x1 - x0))\" "
          + "height=\"\(svgNumber(rowHeight - 6))\" fill=\"\(chartPalette[i % chartPalette.count])\">"
          + "<title>\(HTML.escape(bar.label)) \(HTML.escape(name)): \(String(format: "%.\(decimals)f", value))</title></rect>"
      }
      let total = bar.values.filter(\.isFinite).reduce(0, +)
      out += "<text class=\"tick\" x=\"\(svgNumber(px(positive) + 4))\" y=\"\(svgNumber(y + rowHeight / 2))\" "
        + "dominant-baseline=\"middle\">\(String(format: "%.\(decimals)f", total))</text>"
    }
    let zero = svgNumber(px(0))
    out += "<line class=\"axis\" x1=\"\(zero)\" x2=\"\(zero)\" y1=\"\(svgNumber(top))\" y2=\"\(svgNumber(bottom))\"/>"
    out += "<text class=\"label\" x=\"\(svgNumber((left + right) / 2))\" y=\"\(svgNumber(height - 6))\" text-anchor=\"middle\">\(HTML.escape(valueLabel))</text>"
    if segmentNames.count > 1 { out += legend(names: segmentNames, x: left, y: 38) }
    return out + "</svg>"
  }
}
