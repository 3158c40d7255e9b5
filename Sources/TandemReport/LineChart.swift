/// A line chart as inline SVG: axes with ticks and labels, one polyline per
/// series, a legend, and an optional dashed reference line (the diagonal of
/// a ROC or reliability chart).
///
/// Points with a non-finite coordinate are left out. A chart with no point
/// left is drawn as a `chart-empty` placeholder saying so; only charts that
/// draw something carry the class `chart`, which the page's check counts.
public struct LineChart: Sendable {
  public struct Series: Sendable {
    public var name: String
    public var points: [(x: Double, y: Double)]
    /// Circles at each point, with its values on hover (for short series such as epochs).
    public var markers: Bool

    public init(name: String, points: [(x: Double, y: Double)], markers: Bool = false) {
      self.name = name
      self.points = points
      self.markers = markers
    }
  }

  public var title: String
  public var xLabel: String
  public var yLabel: String
  public var series: [Series]
  public var xDomain: ClosedRange<Double>?
  public var yDomain: ClosedRange<Double>?
  public var reference: [(x: Double, y: Double)]
  /// Ticks on whole numbers only (epochs, steps).
  public var integerX = false
  public var width = 640.0
  public var height = 320.0

  public init(title: String, xLabel: String, yLabel: String, series: [Series],
              xDomain: ClosedRange<Double>? = nil, yDomain: ClosedRange<Double>? = nil,
              reference: [(x: Double, y: Double)] = []) {
    self.title = title
    self.xLabel = xLabel
    self.yLabel = yLabel
    self.series = series
    self.xDomain = xDomain
    self.yDomain = yDomain
    self.reference = reference
  }

  /// True when at least one point will be drawn.
  public var hasData: Bool { series.contains { $0.points.contains { $0.x.isFinite && $0.y.isFinite } } }

  public func svg() -> String {
    let drawn = series.map { s in
      Series(name: s.name, points: s.points.filter { $0.x.isFinite && $0.y.isFinite }, markers: s.markers)
    }
    guard hasData else { return emptyChart(title: title, width: width) }
    let xs = drawn.flatMap { $0.points.map(\.x) }, ys = drawn.flatMap { $0.points.map(\.y) }
    let xAxis = Axis(values: xs, fixed: xDomain, integers: integerX), yAxis = Axis(values: ys, fixed: yDomain)
    let left = 64.0, right = width - 16, top = 52.0, bottom = height - 44
    func px(_ x: Double) -> Double { xAxis.position(x, from: left, to: right) }
    func py(_ y: Double) -> Double { yAxis.position(y, from: bottom, to: top) }

    var out = svgOpen(title: title, width: width, height: height)
    out += "<text class=\"title\" x=\"\(svgNumber(left))\" y=\"20\">\(HTML.escape(title))</text>"
    // Grid and ticks.
    for t in yAxis.ticks {
      let y = svgNumber(py(t))
      out += "<line class=\"grid\" x1=\"\(svgNumber(left))\" x2=\"\(svgNumber(right))\" y1=\"\(y)\" y2=\"\(y)\"/>"
      out += "<text class=\"tick\" x=\"\(svgNumber(left - 6))\" y=\"\(y)\" text-anchor=\"end\" dominant-baseline=\"middle\">\(yAxis.label(t))</text>"
    }
    for t in xAxis.ticks {
      let x = svgNumber(px(t))
      out += "<line class=\"grid\" x1=\"\(x)\" x2=\"\(x)\" y1=\"\(svgNumber(top))\" y2=\"\(svgNumber(bottom))\"/>"
      out += "<text class=\"tick\" x=\"\(x)\" y=\"\(svgNumber(bottom + 16))\" text-anchor=\"middle\">\(xAxis.label(t))</text>"
    }
    out += "<path class=\"axis\" d=\"M\(svgNumber(left)),\(svgNumber(top))V\(svgNumber(bottom))H\(svgNumber(right))\"/>"
    out += "<text class=\"label\" x=\"\(svgNumber((left + right) / 2))\" y=\"\(svgNumber(height - 6))\" text-anchor=\"middle\">\(HTML.escape(xLabel))</text>"
    out += "<text class=\"label\" transform=\"translate(14,\(svgNumber((top + bottom) / 2))) rotate(-90)\" text-anchor=\"middle\">\(HTML.escape(yLabel))</text>"

    if reference.count >= 2 {
      let points = reference.map { "\(svgNumber(px($0.x))),\(svgNumber(py($0.y)))" }.joined(separator: " ")
      out += "<polyline class=\"reference\" points=\"\(points)\"/>"
    }
    for (i, s) in drawn.enumerated() where !s.points.isEmpty {
      let colour = chartPalette[i % chartPalette.count]
      if s.points.count > 1 {
        let points = s.points.map { "\(svgNumber(px($0.x))),\(svgNumber(py($0.y)))" }.joined(separator: " ")
        out += "<polyline class=\"mark\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.8\" points=\"\(points)\"/>"
      }
      // A lone point has no line, so it always gets a marker.
      if s.markers || s.points.count == 1 {
        for p in s.points {
          out += "<circle class=\"mark\" fill=\"\(colour)\" cx=\"\(svgNumber(px(p.x)))\" cy=\"\(svgNumber(py(p.y)))\" r=\"3.2\">"
            + "<title>\(HTML.escape(s.name)): \(xAxis.label(p.x)), \(String(format: "%.4f", p.y))</title></circle>"
        }
      }
    }
    out += legend(names: drawn.map(\.name), x: left, y: 34)
    return out + "</svg>"
  }
}

/// The legend as a row of coloured squares and names; nothing for a single unnamed series.
func legend(names: [String], x: Double, y: Double) -> String {
  guard names.count > 1 || names.first.map({ !$0.isEmpty }) == true else { return "" }
  var out = ""
  var cursor = x
  for (i, name) in names.enumerated() {
    out += "<rect class=\"legend\" x=\"\(svgNumber(cursor))\" y=\"\(svgNumber(y - 9))\" width=\"10\" height=\"10\" fill=\"\(chartPalette[i % chartPalette.count])\"/>"
    out += "<text class=\"tick\" x=\"\(svgNumber(cursor + 14))\" y=\"\(svgNumber(y))\">\(HTML.escape(name))</text>"
    cursor += 28 + Double(name.count) * 6.5
  }
  return out
}

func svgOpen(title: String, width: Double, height: Double, className: String = "chart") -> String {
  "<svg class=\"\(className)\" role=\"img\" aria-label=\"\(HTML.escape(title))\" width=\"\(svgNumber(width))\" "
    + "height=\"\(svgNumber(height))\" viewBox=\"0 0 \(svgNumber(width)) \(svgNumber(height))\">"
}

/// What a chart without data shows instead: its title and "no data", and no `chart` class.
func emptyChart(title: String, width: Double) -> String {
  svgOpen(title: title, width: width, height: 60, className: "chart-empty")
    + "<text class=\"title\" x=\"8\" y=\"24\">\(HTML.escape(title))</text>"
    + "<text class=\"tick\" x=\"8\" y=\"46\">no data</text></svg>"
}
