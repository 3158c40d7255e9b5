import Foundation
import TandemStore
import TandemRun

extension RunReport {
  /// The page and the number of SVG charts in it that draw something, which
  /// the page also carries as `data-charts-expected` for the browser check.
  public struct Page: Sendable {
    public var html: String
    public var charts: Int
  }

  /// A self-contained HTML page: styles, charts (inline SVG) and images
  /// (data: URIs) are all in the file, and a Content-Security-Policy forbids
  /// any fetch, so the page shows the same offline, archived or mailed.
  public func page(generatedAt: Date = Date()) -> Page {
    var builder = PageBuilder()
    builder.header(self, generatedAt: generatedAt)
    builder.data(self)
    builder.training(self)
    builder.timing(self)
    builder.evaluation(self)
    builder.explanations(self)
    builder.provenance(self)
    builder.runFile(self)
    return builder.finish(title: "Tandem run \(runID)")
  }
}

/// Formats a metric as everywhere in the page (and as `tandem evaluate` prints it).
func metric(_ value: Double) -> String {
  value.isFinite ? String(format: "%.4f", value) : "–"
}

private struct PageBuilder {
  var body = HTML()
  var charts = 0

  mutating func chart(_ chart: LineChart) {
    if chart.hasData { charts += 1 }
    body.raw("<figure>" + chart.svg() + "</figure>")
  }

  mutating func chart(_ chart: BarChart) {
    if chart.hasData { charts += 1 }
    body.raw("<figure>" + chart.svg() + "</figure>")
  }

  mutating func note(_ text: String) {
    body.element("p", [("class", "note")], text: text)
  }

  mutating func header(_ report: RunReport, generatedAt: Date) {
    body.element("h1", text: "Run \(report.runID)")
    var facts: [[String]] = [["run directory", report.runDirectory]]
    if let s = report.summary {
      facts += [["model", s.model.rawValue], ["task", s.task.rawValue], ["world size", "\(s.worldSize) ranks"], ["epochs", "\(s.epochs)"],
                ["steps", "\(s.steps)"], ["training samples", "\(s.trainSamples)"],
                ["time", String(format: "%.1f s (%.0f samples/s)", s.seconds, s.samplesPerSecond)]]
    } else {
      facts.append(["summary", "no summary.json: the run did not finish (or is still running)"])
    }
    facts.append(["report generated", ISO8601DateFormatter().string(from: generatedAt)])
    body.table(header: ["", ""], rows: facts, className: "facts")
  }

  /// The dataset the run trained on: its size, splits and class balance.
  mutating func data(_ report: RunReport) {
    body.element("h2", text: "Data")
    guard let d = report.data else {
      note(report.dataNote ?? "No dataset summary.")
      return
    }
    body.table(header: ["", ""], rows: [
      ["dataset", d.path], ["kind", "\(d.kind), \(d.samples) samples of shape \(d.sampleShape.map(String.init).joined(separator: " x "))"],
      ["content SHA-256", d.contentSha256],
    ], className: "facts")
    let names = d.classNames
    var rows: [[String]] = []
    for split in ["train", "val", "test"] {
      guard let c = d.splits[split] else { continue }
      let shares = c.classCounts.map { c.samples == 0 ? "–" : String(format: "%.1f%%", 100 * Double($0) / Double(c.samples)) }
      rows.append([split, "\(c.samples)"] + zip(c.classCounts, shares).map { "\($0) (\($1))" } + [c.patients.map(String.init) ?? "–"])
    }
    body.table(header: ["split", "samples"] + names + ["patients"], rows: rows, numeric: Set(1..<(names.count + 3)))
    note("Splits as ingested (seeded; patients never span two splits). The run trains on train and validates on val; "
         + "`tandem evaluate` tunes the threshold on val and measures test.")
  }

  mutating func training(_ report: RunReport) {
    body.element("h2", text: "Training")
    let epochs = report.epochs
    func points(_ value: (ClassificationMetrics) -> Double) -> [(x: Double, y: Double)] {
      epochs.map { (Double($0.epoch), value($0.validation)) }
    }
    // One x axis for both: a step at its place within its epoch, each
    // validation at the end of its epoch.
    let perEpoch = Double(max(report.stepsPerEpoch, 1))
    chart(LineChart(title: "Loss: training per step, validation per epoch", xLabel: "epoch", yLabel: "loss",
                    series: [.init(name: "training", points: report.steps.map { (Double($0.globalStep) / perEpoch, $0.loss) }),
                             .init(name: "validation", points: points(\.loss), markers: true)]))
    let rates = report.steps.compactMap { s in s.learningRate.map { (Double(s.globalStep), $0) } }
    if !rates.isEmpty {
      var rate = LineChart(title: "Learning rate per step", xLabel: "step (over all epochs)", yLabel: "learning rate",
                           series: [.init(name: "", points: rates)])
      rate.integerX = true
      chart(rate)
    }
    var validationMetrics = LineChart(title: "Validation metrics per epoch", xLabel: "epoch", yLabel: "value",
                                      series: [.init(name: "accuracy", points: points(\.accuracy), markers: true),
                                               .init(name: "ROC AUC", points: points(\.rocAUC), markers: true),
                                               .init(name: "precision", points: points(\.precision), markers: true),
                                               .init(name: "recall", points: points(\.recall), markers: true)],
                                      yDomain: 0...1)
    validationMetrics.integerX = true
    chart(validationMetrics)
    if !epochs.isEmpty {
      body.table(header: ["epoch", "count", "loss", "accuracy", "ROC AUC", "precision", "recall", "F1", "threshold"],
                 rows: epochs.map { e in
                   let m = e.validation
                   return ["\(e.epoch)", "\(m.count)", metric(m.loss), metric(m.accuracy), metric(m.rocAUC),
                           metric(m.precision), metric(m.recall), metric(m.f1), metric(m.threshold)]
                 }, numeric: Set(0..<9))
    }
  }

  mutating func timing(_ report: RunReport) {
    body.element("h2", text: "Time per rank")
    var totals: [Int: (compute: Double, wait: Double, allreduce: Double, steps: Int)] = [:]
    for step in report.steps {
      for r in step.ranks {
        var t = totals[r.rank] ?? (0, 0, 0, 0)
        t.compute += r.computeMs; t.wait += r.dataWaitMs; t.allreduce += r.allreduceMs; t.steps += 1
        totals[r.rank] = t
      }
    }
    let ranks = totals.keys.sorted()
    guard !ranks.isEmpty else {
      note("No per-rank timings in metrics.jsonl.")
      return
    }
    chart(BarChart(title: "Mean milliseconds per step, by rank", valueLabel: "ms per step",
                   segmentNames: ["compute", "data wait", "allreduce"],
                   bars: ranks.map { r in
                     let t = totals[r]!, n = Double(t.steps)
                     return .init(label: "rank \(r)", values: [t.compute / n, t.wait / n, t.allreduce / n])
                   }))
    body.table(header: ["rank", "steps", "compute ms/step", "data wait ms/step", "allreduce ms/step", "total s"],
               rows: ranks.map { r in
                 let t = totals[r]!, n = Double(t.steps)
                 return ["\(r)", "\(t.steps)", String(format: "%.2f", t.compute / n), String(format: "%.2f", t.wait / n),
                         String(format: "%.2f", t.allreduce / n), String(format: "%.2f", (t.compute + t.wait + t.allreduce) / 1e3)]
               }, numeric: Set(0..<6))
    if !report.checkpoints.isEmpty {
      let ms = report.checkpoints.map(\.ms)
      note(String(format: "%d checkpoints written, %.1f ms on average, %.1f ms at most (last: step %d, %@).",
                  ms.count, ms.reduce(0, +) / Double(ms.count), ms.max()!, report.checkpoints.last!.step,
                  report.checkpoints.last!.file))
    }
  }

  mutating func evaluation(_ report: RunReport) {
    body.element("h2", text: "Evaluation")
    guard !report.evaluations.isEmpty else {
      note("No evaluation file: `tandem evaluate \(report.runDirectory)` adds the ROC curve, threshold table and "
           + "calibration on the test split. Shown here: the last epoch's validation confusion matrix.")
      if let last = report.epochs.last {
        confusion(last.validation.confusion, names: ["0", "1"],
                  caption: "Validation, epoch \(last.epoch), threshold \(metric(last.validation.threshold))")
      }
      return
    }
    for e in report.evaluations {
      let m = e.metrics
      body.element("h3", text: "Split \(e.split) (\(m.count) samples)")
      body.table(header: ["", e.split.description, "validation"], rows: [
        ["threshold", metric(e.threshold), metric(e.threshold)],
        ["accuracy", metric(m.accuracy), metric(e.validation.accuracy)],
        ["ROC AUC", metric(m.rocAUC), metric(e.validation.rocAUC)],
        ["precision", metric(m.precision), metric(e.validation.precision)],
        ["recall", metric(m.recall), metric(e.validation.recall)],
        ["F1", metric(m.f1), metric(e.validation.f1)],
        ["false negatives", "\(e.falseNegatives)", "\(e.validation.confusion[1][0])"],
        ["loss", metric(m.loss), ""],
        ["expected calibration error", metric(e.expectedCalibrationError), ""],
      ], numeric: [1, 2])
      body.element("p", text: "Threshold tuned on the validation split: \(e.thresholdPolicy).")
      confusion(m.confusion, names: e.classNames, caption: "Confusion matrix, \(e.split), threshold \(metric(e.threshold))")
      production(report, e)
      chart(LineChart(title: "ROC curve, \(e.split) (AUC \(metric(m.rocAUC)))", xLabel: "false positive rate",
                      yLabel: "true positive rate", series: [.init(name: "", points: e.roc.map { ($0.fpr, $0.tpr) })],
                      xDomain: 0...1, yDomain: 0...1, reference: [(0, 0), (1, 1)]))
      // From the ROC points and the class counts: precision = TP / (TP + FP).
      let positives = Double(m.confusion[1].reduce(0, +)), negatives = Double(m.confusion[0].reduce(0, +))
      let pr = e.roc.compactMap { p -> (x: Double, y: Double)? in
        let tp = p.tpr * positives, fp = p.fpr * negatives
        return tp + fp > 0 ? (p.tpr, tp / (tp + fp)) : nil
      }
      let base = positives / max(positives + negatives, 1)
      chart(LineChart(title: "Precision-recall curve, \(e.split) (positives \(String(format: "%.1f%%", 100 * base)))",
                      xLabel: "recall", yLabel: "precision", series: [.init(name: "", points: pr)],
                      xDomain: 0...1, yDomain: 0...1, reference: [(0, base), (1, base)]))
      let bins = e.calibration.filter { $0.count > 0 }
      chart(LineChart(title: "Calibration, \(e.split) (ECE \(metric(e.expectedCalibrationError)))", xLabel: "mean predicted probability",
                      yLabel: "observed positive rate",
                      series: [.init(name: "", points: bins.map { ($0.meanPredicted, $0.observedRate) }, markers: true)],
                      xDomain: 0...1, yDomain: 0...1, reference: [(0, 0), (1, 1)]))
      body.table(header: ["bin", "count", "mean predicted", "observed rate"],
                 rows: e.calibration.map { [String(format: "%.1f–%.1f", $0.lower, $0.upper), "\($0.count)",
                                            $0.count == 0 ? "" : metric($0.meanPredicted), $0.count == 0 ? "" : metric($0.observedRate)] },
                 numeric: [1, 2, 3])
      // Files from before the chosen threshold was kept off the grid list it twice.
      var table: [Evaluation.ThresholdRow] = []
      for row in e.thresholdTable where !table.contains(where: { abs($0.threshold - row.threshold) < 1e-9 }) { table.append(row) }
      let chosen = Set(table.indices.filter { abs(table[$0].threshold - e.threshold) < 1e-9 })
      body.element("h4", text: "Thresholds (the chosen one highlighted)")
      body.table(header: ["threshold", "accuracy", "precision", "recall", "F1", "false negatives", "false positives"],
                 rows: table.map { [metric($0.threshold), metric($0.accuracy), metric($0.precision), metric($0.recall),
                                               metric($0.f1), "\($0.falseNegatives)", "\($0.falsePositives)"] },
                 numeric: Set(0..<7), highlighted: chosen)
    }
  }

  /// The version registered from this run beside the production version it
  /// was measured against on the same test samples, and production now.
  mutating func production(_ report: RunReport, _ e: Evaluation) {
    guard e.split == .test else { return }
    guard let v = report.registeredVersions.last else {
      note("Not registered as a model version, so not compared with production (`tandem evaluate` registers).")
      return
    }
    body.element("h4", text: "Against production")
    if let c = v.metrics.champion {
      body.table(header: ["", "\(v.name)@\(v.version) (this run)", "\(v.name)@\(c.version) (production then)", "difference"], rows: [
        ["accuracy", metric(v.metrics.accuracy), metric(c.accuracy), String(format: "%+.4f", v.metrics.accuracy - c.accuracy)],
        ["recall", metric(v.metrics.recall), metric(c.recall), String(format: "%+.4f", v.metrics.recall - c.recall)],
        ["ROC AUC", metric(v.metrics.rocAUC), metric(c.rocAUC), String(format: "%+.4f", v.metrics.rocAUC - c.rocAUC)],
      ], numeric: [1, 2, 3])
      note("Both on this run's \(v.metrics.split) split, each at its own threshold, when \(v.name)@\(v.version) was registered.")
    } else {
      note("\(v.name)@\(v.version): no production version existed when it was registered, so there was nothing to compare on the same samples.")
    }
    if let p = report.production {
      note(p.version == v.version ? "\(v.name)@\(v.version) is in production."
           : "In production now: \(p.name)@\(p.version) (run \(p.runID); on its own test split: accuracy \(metric(p.metrics.accuracy)), "
             + "recall \(metric(p.metrics.recall)), ROC AUC \(metric(p.metrics.rocAUC))).")
    }
  }

  mutating func confusion(_ counts: [[Int]], names: [String], caption: String) {
    let labels = names.count == 2 ? names : ["0", "1"]
    body.raw(HeatmapTable(caption: caption, rowTitle: "true", columnTitle: "predicted", rowLabels: labels,
                          columnLabels: labels, counts: counts).html())
  }

  mutating func explanations(_ report: RunReport) {
    body.element("h2", text: "Explanations")
    guard report.hasExplanations else {
      note("No explanations: `tandem explain` writes them to \(report.runDirectory)/explanations/.")
      return
    }
    if let importance = report.importance {
      let shown = importance.prefix(40)
      var bars = BarChart(title: "Feature importance", valueLabel: "importance", segmentNames: ["importance"],
                          bars: shown.map { .init(label: $0.feature, values: [$0.importance]) })
      bars.decimals = 4
      chart(bars)
      if importance.count > shown.count { note("The \(shown.count) most important of \(importance.count) features.") }
    }
    if !report.heatmaps.isEmpty {
      // The overlays' colour map (TandemExplain's HeatmapOverlay): gray where
      // occluding did not lower the score, red to yellow as it lowered it more.
      body.element("div", [("class", "scale-row")]) { d in
        d.element("span", text: "occlusion: no effect")
        d.element("div", [("class", "overlay-bar")], text: "")
        d.element("span", text: "largest drop of the score")
      }
      body.element("div", [("class", "images")]) { d in
        for (name, png) in report.heatmaps {
          d.element("figure") { f in
            f.void("img", [("src", "data:image/png;base64," + png.base64EncodedString()), ("alt", name)])
            f.element("figcaption", text: name)
          }
        }
      }
    }
    if report.importance == nil && report.heatmaps.isEmpty { note("The explanations directory holds no importance.json and no PNG files.") }
  }

  mutating func provenance(_ report: RunReport) {
    body.element("h2", text: "Snapshot and environment")
    if let root = report.storeRoot { note("Store: \(root)") }
    for n in report.storeNotes { note(n) }
    if let s = report.snapshot, let id = report.summary?.snapshotID {
      let env = s.environment
      body.table(header: ["", ""], rows: [
        ["snapshot", id], ["dataset SHA-256", s.datasetSHA256], ["dataset file", s.datasetFileName],
        ["seed", "\(s.seed)"], ["world size", "\(s.worldSize)"], ["code", s.code.summary],
        ["OS", env.os], ["kernel", env.kernel], ["CPU", "\(env.cpuModel) (\(env.logicalCPUs) logical CPUs)"],
        ["OpenBLAS", "\(env.openBLASConfig); core \(env.openBLASCore); \(env.blasThreads) thread(s) per rank"],
        ["MPI", env.mpiVersion], ["HDF5", env.hdf5Version], ["host", env.hostname],
      ], className: "facts")
      body.element("details") { d in
        d.element("summary", text: "CPU flags (\(env.cpuFlags.count))")
        d.element("p", [("class", "mono")], text: env.cpuFlags.joined(separator: " "))
      }
      body.element("details") { d in
        d.element("summary", text: "Resolved settings (\(s.resolvedConfig.count))")
        d.table(header: ["setting", "value"], rows: s.resolvedConfig.sorted { $0.key < $1.key }.map { [$0.key, $0.value] })
      }
    }
    if let r = report.registryRecord {
      let iso = ISO8601DateFormatter()
      var rows: [[String]] = [
        ["run", r.id], ["status", r.status.description], ["user", r.user], ["started", iso.string(from: r.startedAt)],
        ["ended", r.endedAt.map { iso.string(from: $0) } ?? "–"], ["code", r.codeVersion], ["world size", "\(r.worldSize)"],
        ["training data", "\(r.trainData.path) (\(r.trainData.split), \(r.trainData.sha256))"],
      ]
      if let v = r.validationData { rows.append(["validation data", "\(v.path) (\(v.split), \(v.sha256))"]) }
      rows += [["parameters SHA-256", r.parametersSHA256 ?? "–"], ["parameters file", r.parametersFile ?? "–"],
               ["epochs recorded", "\(r.epochs.count)"]]
      body.element("h3", text: "Registry row")
      body.table(header: ["", ""], rows: rows, className: "facts")
    }
  }

  mutating func runFile(_ report: RunReport) {
    body.element("h2", text: "Run file")
    if let text = report.configurationText {
      body.element("pre", text: text)
    } else {
      note("No config.toml in the run directory.")
    }
  }

  func finish(title: String) -> RunReport.Page {
    var page = HTML()
    page.raw("<!DOCTYPE html>\n")
    page.element("html", [("lang", "en")]) { html in
      html.element("head") { head in
        head.raw("<meta charset=\"utf-8\">")
        // Nothing may be fetched: what the page shows is what the file holds.
        head.raw("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
                 + "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">")
        head.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        head.element("title", text: title)
        head.raw("<style>\(Self.style)</style>")
      }
      html.element("body", [("data-charts-expected", "\(charts)")]) { b in
        b.raw(body.markup)
        b.raw("<script>\(Self.renderCheck)</script>")
      }
    }
    return RunReport.Page(html: page.markup, charts: charts)
  }

  static let style = """
    body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1500px; color: #111; padding: 0 24px; }
    h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ccc; } h3 { font-size: 15px; }
    table { border-collapse: collapse; margin: 10px 0; } th, td { padding: 3px 10px; border-bottom: 1px solid #e4e4e4; text-align: left; }
    td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; } tr.highlight td { background: #fff3c4; font-weight: 600; }
    table.facts thead { display: none; } table.facts td:first-child { color: #555; }
    table.heatmap td { width: 180px; height: 64px; text-align: center; font-size: 16px; } table.heatmap caption { text-align: left; color: #555; }
    .heatmap-wrap { display: flex; align-items: center; gap: 18px; } .scale { display: flex; flex-direction: column; align-items: center; font-size: 12px; color: #555; }
    .scale .bar { width: 18px; height: 150px; background: linear-gradient(to top, rgba(0, 114, 178, 0.08), rgba(0, 114, 178, 0.93)); border: 1px solid #ccc; }
    figure { margin: 12px 24px 12px 0; display: inline-block; vertical-align: top; } svg { font: 11px system-ui, sans-serif; overflow: visible; }
    svg .title { font-size: 13px; font-weight: 600; } svg .tick { fill: #333; } svg .label { fill: #333; font-size: 12px; }
    svg .grid { stroke: #e8e8e8; } svg .axis { stroke: #444; fill: none; } svg .reference { stroke: #999; stroke-dasharray: 4 4; fill: none; }
    .note { color: #555; font-style: italic; } .mono, pre { font: 12px ui-monospace, monospace; } pre { background: #f6f6f6; padding: 10px; overflow: auto; }
    .images { display: flex; flex-wrap: wrap; gap: 12px; } .images img { width: 440px; max-width: 100%; image-rendering: pixelated; }
    .scale-row { display: flex; align-items: center; gap: 10px; font-size: 12px; color: #555; }
    .overlay-bar { width: 240px; height: 14px; border: 1px solid #ccc; background: linear-gradient(to right, #888, rgb(255, 0, 0) 8%, rgb(255, 255, 0)); }
    """

  /// Counts the charts the browser actually drew: laid out with a non-empty
  /// box, and holding at least one data mark (line, bar, point) of non-zero
  /// size. A test compares it with `data-charts-expected`. Run at once and
  /// again on load, when images are decoded.
  static let renderCheck = """
    function tandemRenderCheck() {
      var rendered = 0;
      document.querySelectorAll('svg.chart').forEach(function (svg) {
        var box = svg.getBoundingClientRect();
        if (!(box.width > 0 && box.height > 0)) return;
        var marks = svg.querySelectorAll('.mark');
        for (var i = 0; i < marks.length; i++) {
          var b = marks[i].getBBox();
          if (b.width > 0 || b.height > 0) { rendered++; return; }
        }
      });
      var images = 0;
      document.querySelectorAll('img').forEach(function (img) { if (img.complete && img.naturalWidth > 0) images++; });
      document.body.dataset.chartsRendered = rendered;
      document.body.dataset.imagesRendered = images;
    }
    tandemRenderCheck();
    window.addEventListener('load', tandemRenderCheck);
    """
}
