import Foundation
import Testing
import TandemReport

@Test func escapeReplacesEveryMarkupCharacter() {
  #expect(HTML.escape("<a href=\"x\">Tom & 'Jerry'</a>") == "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;")
  #expect(HTML.escape("plain text, ü") == "plain text, ü")
}

@Test func builderEscapesTextAndAttributesButNotItsOwnTags() {
  var h = HTML()
  h.element("p", [("title", "a\"b<c")], text: "<script>alert(1)</script> & more")
  h.table(header: ["<th>"], rows: [["x & y"]])
  #expect(h.markup.hasPrefix("<p title=\"a&quot;b&lt;c\">&lt;script&gt;alert(1)&lt;/script&gt; &amp; more</p>"))
  #expect(h.markup.contains("<th>&lt;th&gt;</th>"))
  #expect(h.markup.contains("<td>x &amp; y</td>"))
  #expect(!h.markup.contains("<script>"))
}

@Test func chartTitlesAndNamesAreEscaped() {
  let svg = LineChart(title: "loss <b>&\"", xLabel: "x<", yLabel: "y&",
                      series: [.init(name: "a<b", points: [(0, 1), (1, 2)])]).svg()
  #expect(svg.contains("loss &lt;b&gt;&amp;&quot;"))
  #expect(svg.contains("a&lt;b"))
  #expect(!svg.contains("<b>"))
}

@Test func lineChartWithoutPointsIsAnEmptyPlaceholder() {
  for series in [[], [LineChart.Series(name: "loss", points: [])],
                 [LineChart.Series(name: "loss", points: [(.nan, 1), (2, .nan), (.infinity, 0)])]] {
    let chart = LineChart(title: "Loss", xLabel: "step", yLabel: "loss", series: series)
    #expect(!chart.hasData)
    let svg = chart.svg()
    #expect(svg.contains("class=\"chart-empty\"") && svg.contains("no data"))
    #expect(!svg.contains("class=\"chart\"") && !svg.contains("class=\"mark\""))
  }
}

/// "nan" or "inf" as a number (not inside a word such as "dominant").
private func printsNonFinite(_ svg: String) -> Bool {
  svg.lowercased().contains(/(^|[^a-z])(nan|inf)/)
}

@Test func lineChartSkipsNonFinitePoints() throws {
  let svg = LineChart(title: "Loss", xLabel: "step", yLabel: "loss",
                      series: [.init(name: "", points: [(1, 0.5), (2, .nan), (3, 0.25), (.infinity, 1), (4, -.infinity)])]).svg()
  let points = try #require(svg.firstMatch(of: /<polyline class="mark"[^>]* points="([^"]*)"/)).1
  #expect(points.split(separator: " ").count == 2)
  #expect(!printsNonFinite(svg))
  #expect(svg.contains("class=\"chart\""))
}

@Test func aSinglePointIsDrawnAsAMarkerWithFiniteTicks() {
  let chart = LineChart(title: "Validation loss", xLabel: "epoch", yLabel: "loss", series: [.init(name: "", points: [(1, 0.42)])])
  #expect(chart.hasData)
  let svg = chart.svg()
  #expect(svg.contains("<circle class=\"mark\""))
  #expect(!svg.contains("<polyline class=\"mark\""))
  #expect(!printsNonFinite(svg))
  // The one value gets room around it: ticks on both sides of 0.42 and of epoch 1.
  let ticks = svg.matches(of: /<text class="tick"[^>]*>([-0-9.]+)<\/text>/).compactMap { Double($0.1) }
  #expect(ticks.contains { $0 < 0.42 } && ticks.contains { $0 > 0.42 })
  #expect(ticks.contains { $0 < 1 } && ticks.contains { $0 > 1 })
}

@Test func fixedDomainsGiveRoundTicksAndAReferenceLine() {
  let svg = LineChart(title: "ROC", xLabel: "FPR", yLabel: "TPR", series: [.init(name: "", points: [(0, 0), (0.3, 0.8), (1, 1)])],
                      xDomain: 0...1, yDomain: 0...1, reference: [(0, 0), (1, 1)]).svg()
  for label in ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"] { #expect(svg.contains(">\(label)</text>"), "tick \(label)") }
  #expect(svg.contains("class=\"reference\""))
}

@Test func barChartStacksSegmentsAndSkipsNaN() throws {
  let svg = BarChart(title: "ms per step", valueLabel: "ms", segmentNames: ["compute", "data wait", "allreduce"],
                     bars: [.init(label: "rank 0", values: [10, 2, .nan]), .init(label: "rank 1", values: [8, 0, 5])]).svg()
  let rects = svg.matches(of: /<rect class="mark" x="([-0-9.]+)" y="[-0-9.]+" width="([-0-9.]+)"/)
  #expect(rects.count == 4)  // NaN and zero segments draw nothing
  let widths = rects.compactMap { Double($0.2) }
  #expect(widths.allSatisfy { $0 > 0 })
  // The second segment of rank 0 starts where the first ends.
  let first = (Double(rects[0].1)!, widths[0]), second = Double(rects[1].1)!
  #expect(abs(first.0 + first.1 - second) < 0.02)
  #expect(svg.contains(">12.00</text>") && svg.contains(">13.00</text>"))  // totals, NaN left out
}

@Test func barChartDrawsNegativeValuesLeftOfZero() throws {
  let svg = BarChart(title: "importance", valueLabel: "drop in AUC", segmentNames: ["importance"],
                     bars: [.init(label: "tenure", values: [0.3]), .init(label: "gender", values: [-0.1])]).svg()
  let rects = svg.matches(of: /<rect class="mark" x="([-0-9.]+)" y="[-0-9.]+" width="([-0-9.]+)"/)
  #expect(rects.count == 2)
  let positiveStart = Double(rects[0].1)!, negative = (Double(rects[1].1)!, Double(rects[1].2)!)
  #expect(abs(negative.0 + negative.1 - positiveStart) < 0.02)  // the negative bar ends at zero
}

@Test func barChartOfZerosOrNothingIsAnEmptyPlaceholder() {
  for bars in [[], [BarChart.Bar(label: "rank 0", values: [0, 0, .nan])]] {
    let chart = BarChart(title: "t", valueLabel: "v", segmentNames: ["a"], bars: bars)
    #expect(!chart.hasData)
    #expect(chart.svg().contains("class=\"chart-empty\""))
  }
}

@Test func heatmapTableShowsCountsRowSharesAndEscapedLabels() {
  let html = HeatmapTable(caption: "test", rowTitle: "true", columnTitle: "predicted", rowLabels: ["No", "<Yes>"],
                          columnLabels: ["No", "<Yes>"], counts: [[90, 10], [0, 0]]).html()
  #expect(html.contains(">90 (90.0%)</td>") && html.contains(">10 (10.0%)</td>"))
  #expect(html.contains(">0</td>"))  // an empty row has no shares
  #expect(html.contains("&lt;Yes&gt;") && !html.contains("<Yes>"))
}
