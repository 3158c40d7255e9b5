import ArgumentParser
import Foundation
import TandemData
import TandemMonitoring
import TandemScoring
import TandemStore
import TandemRun

extension Tandem {
  struct Monitor: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Compare new data with a model's training data; exit 3 when retraining is due.",
      discussion: """
        tandem monitor --model churn --data incoming/2026-12.h5 --out drift.json

        Tables: population stability index (PSI) per source column (numeric columns in deciles of \
        the training values, categorical columns by category). Images: PSI of per-image mean \
        intensity and of the pixel histogram. Both: the change of the positive-class rate. With \
        labels in the new data, the model is scored on it; a gated metric more than --metric-drop \
        below the version's test value is decay. Exit status: 0 no retraining due, 3 retraining \
        due, 1 error. --out FILE writes the full report as JSON; --json prints it instead of the \
        text (schema: docs/json.md).
        """)

    @OptionGroup var storeOption: StoreOption
    @Option(help: "NAME or NAME@VERSION (default: the production version).") var model: ModelReference
    @Option(help: "The new data: a Tandem HDF5 dataset (tandem ingest).") var data: String
    @Option(name: .customLong("psi-threshold"), help: "PSI above which a feature has drifted.") var psiThreshold = MonitorThresholds.defaultPSI
    @Option(name: .customLong("label-shift-threshold"), help: "Change of the positive rate that counts as drift.")
    var labelShiftThreshold = MonitorThresholds.defaultLabelShift
    @Option(name: .customLong("metric-drop"), help: "With labels: how far a gated metric may fall below the version's test value.")
    var metricDrop = MonitorThresholds.defaultMetricDrop
    @Option(help: "Also write the full report as JSON to this file.") var out: String?
    @OptionGroup var output: JSONFlag
    @Option(help: "Delayed ground truth, a CSV of id,label (label 0/1 or a class name): joined with the audit log's predictions for the live metric.")
    var labels: String?

    struct Document: Encodable {
      let report: DriftReport
      /// Live metrics from the audit log joined with --labels.
      let auditLive: LiveMetric?
      /// Why retraining is due (drift, decay); empty when it is not.
      let reasons: [String]
      let retrainDue: Bool
    }

    func run() throws {
      let report = try TandemMonitoring.Monitor.check(
        store: try storeOption.open(), model: model.name, version: model.version, data: data,
        thresholds: MonitorThresholds(psi: psiThreshold, labelShift: labelShiftThreshold, metricDrop: metricDrop))
      if let out {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(report), to: out)
      }
      var reasons = report.reasons
      var auditLive: LiveMetric?
      if let labels {
        let store = try storeOption.open()
        let version = try store.registry.modelVersion(name: report.model, version: report.version)
        let scorer = try Scorer(store: store, version: version)
        let live = try LiveFromAudit.metrics(log: AuditLog(store: store, model: report.model), version: version,
                                             labels: labels, classNames: scorer.classNames)
        auditLive = live
        reasons += TandemMonitoring.Monitor.decay(live, of: version, drop: metricDrop, source: " (audit log)")
      }
      if output.json {
        try JSONOutput.print("tandem.monitor", Document(report: report, auditLive: auditLive, reasons: reasons, retrainDue: !reasons.isEmpty))
        if !reasons.isEmpty { throw ExitCode(3) }
        return
      }
      printNow("\(report.model)@\(report.version): \(report.newCount) new samples in \(data) against \(report.referenceCount) training samples")
      var rows = [["FEATURE", "KIND", "PSI", "CHANGE"]]
      for f in report.features.sorted(by: { $0.psi > $1.psi }) {
        rows.append([f.name, f.kind, String(format: "%.4f%@", f.psi, f.psi > psiThreshold ? " *" : ""), f.detail])
      }
      printNow(alignedColumns(rows))
      if let s = report.labelShift {
        printNow(String(format: "positive rate %.4f -> %.4f", s.referenceRate, s.newRate))
      }
      if let live = report.live {
        printNow(String(format: "live metrics on %d labelled samples: accuracy %.4f, recall %.4f, ROC AUC %.4f",
                        live.count, live.accuracy, live.recall, live.rocAUC))
      }
      if let live = auditLive {
        printNow(String(format: "live metrics from the audit log, %d predictions with delayed labels: accuracy %.4f, recall %.4f, ROC AUC %.4f",
                        live.count, live.accuracy, live.recall, live.rocAUC))
      }
      if !reasons.isEmpty {
        for reason in reasons { printNow("due: \(reason)") }
        printNow("retraining is due")
        throw ExitCode(3)
      }
      printNow("no retraining due")
    }
  }
}
