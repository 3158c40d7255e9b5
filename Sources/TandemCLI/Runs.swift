import ArgumentParser
import Foundation
import TandemStore

extension Tandem {
  struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "List or show the runs recorded in the store's registry.",
      subcommands: [List.self, Show.self, Compare.self])
  }
}

extension Tandem.Runs {
  struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "One line per run, newest first.",
      discussion: """
        tandem runs list
        tandem runs list --json | jq -r '.runs[] | select(.status == "failed") | .id'
        """)

    @OptionGroup var storeOption: StoreOption
    @OptionGroup var output: JSONFlag

    func run() throws {
      let store = try storeOption.open()
      let registry = try store.registry
      // With their epochs: the newest validation metrics are part of the list.
      let runs = try registry.runs().map { try registry.run(id: $0.id) ?? $0 }
      if output.json { return try JSONOutput.print("tandem.runs", ["runs": runs.map { RunJSON($0, full: false) }]) }
      guard !runs.isEmpty else {
        printNow("no runs recorded in \(store.registryPath)")
        return
      }
      var rows = [["RUN", "STATUS", "STARTED", "DURATION", "USER", "WORLD", "VAL AUC", "VAL ACC", "SNAPSHOT", "CODE"]]
      for run in runs {
        let status = run.status.description.count > 40 ? run.status.description.prefix(39) + "…" : Substring(run.status.description)
        let duration = run.endedAt.map { durationText($0.timeIntervalSince(run.startedAt)) } ?? "-"
        let last = run.epochs.last?.metrics
        rows.append([run.id, String(status), formatDate(run.startedAt), duration, run.user, String(run.worldSize),
                     last.map { String(format: "%.4f", $0.rocAUC) } ?? "-", last.map { String(format: "%.4f", $0.accuracy) } ?? "-",
                     String(run.snapshotID.prefix(12)), run.codeVersion])
      }
      printNow(alignedColumns(rows))
    }
  }

  struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Every field of one run and its metrics per epoch.",
      discussion: """
        tandem runs show churn-mlp-20261201-020000
        """)

    @Argument(help: "The run id (its directory name, from tandem runs list).") var id: String
    @OptionGroup var storeOption: StoreOption
    @OptionGroup var output: JSONFlag

    func run() throws {
      let store = try storeOption.open()
      let run = try store.recordedRun(id: id)
      if output.json { return try JSONOutput.print("tandem.run", ["run": RunJSON(run, full: true)]) }
      func reference(_ data: RunRecord.DataReference?) -> String {
        guard let data else { return "-" }
        return "\(data.path), split \(data.split), content sha256 \(data.sha256)"
      }
      let rows = [
        ["run", run.id],
        ["status", run.status.description],
        ["user", run.user],
        ["started", formatDate(run.startedAt)],
        ["ended", run.endedAt.map { "\(formatDate($0)) (\(durationText($0.timeIntervalSince(run.startedAt))))" } ?? "-"],
        ["directory", run.runDirectory],
        ["snapshot", run.snapshotID],
        ["code", run.codeVersion],
        ["world size", String(run.worldSize)],
        ["train data", reference(run.trainData)],
        ["validation", reference(run.validationData)],
        ["parameters", run.parametersFile ?? "-"],
        ["params sha256", run.parametersSHA256 ?? "-"],
        ["features", features(run.featureStatistics)],
        ["environment", "\(run.environment.os); \(run.environment.cpuModel); \(run.environment.numerics ?? "numerics unrecorded")"],
      ]
      var text = alignedColumns(rows)
      text += "\nrun file:\n" + indented(run.configuration)
      text += "\nepochs:" + (run.epochs.isEmpty ? " none recorded" : "\n" + indented(epochTable(run.epochs)))
      printNow(text)
    }

    /// `3 standardised (mean/std): 0.5/1.5 …`, or none for images.
    func features(_ statistics: FeatureStatistics) -> String {
      let pairs: [String] = zip(statistics.mean, statistics.std).map { String(format: "%.4g/%.4g", Double($0), Double($1)) }
      return pairs.isEmpty ? "none (images)" : "\(pairs.count) standardised (mean/std): " + pairs.joined(separator: " ")
    }

    /// The metrics of each epoch as a table, the confusion matrices after it.
    func epochTable(_ epochs: [RunRecord.Epoch]) -> String {
      var rows = [["EPOCH", "COUNT", "LOSS", "ACCURACY", "AUC", "PRECISION", "RECALL", "F1", "THRESHOLD"]]
      for e in epochs {
        let m = e.metrics
        rows.append([String(e.epoch), String(m.count)] + [m.loss, m.accuracy, m.rocAUC, m.precision, m.recall, m.f1, m.threshold]
          .map { String(format: "%.4f", $0) })
      }
      let confusion = epochs.map { "epoch \($0.epoch) confusion: \($0.metrics.confusion)" }
      return alignedColumns(rows) + "\n" + confusion.joined(separator: "\n")
    }
  }

  struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Two runs side by side: facts, the settings that differ, metrics, and whether the parameters are equal.",
      discussion: """
        tandem runs compare churn-mlp-20261101-020000 churn-mlp-20261201-020000

        Settings are compared as each snapshot resolved them (defaults filled in), so a default \
        that changed between versions shows too. Metrics: the newest validation epoch, and the \
        test evaluation where `tandem evaluate` has run. Parameters: equal bit for bit, or how \
        many elements of each tensor differ and by how much.
        """)

    @Argument(help: "The earlier run id (from tandem runs list).") var a: String
    @Argument(help: "The later run id.") var b: String
    @OptionGroup var storeOption: StoreOption
    @OptionGroup var output: JSONFlag

    func run() throws {
      let c = try RunComparison(store: try storeOption.open(), a: a, b: b)
      if output.json { return try JSONOutput.print("tandem.runs.compare", ["comparison": c]) }
      var text = alignedColumns([["", "A", "B"]] + c.facts.map { [$0.key, $0.a ?? "-", $0.b ?? "-"] }.map { r in
        r[1] == r[2] ? [r[0], r[1], "(same)"] : r
      })
      text += "\nsettings:" + (c.settings.isEmpty ? " all resolved settings equal"
        : "\n" + indented(alignedColumns([["KEY", "A", "B"]] + c.settings.map { [$0.key, $0.a ?? "(unset)", $0.b ?? "(unset)"] })))
      var rows = [["METRICS", "ACCURACY", "ROC AUC", "PRECISION", "RECALL", "F1", "THRESHOLD"]]
      for (label, list) in [("A", c.metricsA), ("B", c.metricsB)] {
        for m in list {
          rows.append(["\(label) \(m.split)"] + [m.accuracy, m.rocAUC, m.precision, m.recall, m.f1].map { String(format: "%.4f", $0) }
                      + [m.threshold.map { String(format: "%.4f", $0) } ?? "-"])
        }
      }
      text += "\n" + alignedColumns(rows)
      let p = c.parameters
      if p.identical {
        text += "\nparameters: bitwise identical"
      } else if let tensors = p.tensors {
        let differ = tensors.filter { $0.differing > 0 }
        text += "\nparameters: differ in \(differ.count) of \(tensors.count) tensors\n" + indented(alignedColumns(
          [["TENSOR", "SHAPE", "DIFFERING", "MAX |A-B|"]]
            + tensors.map { [$0.name, $0.shape.map(String.init).joined(separator: "x"), "\($0.differing)", String(format: "%.3g", $0.maxAbsoluteDifference)] }))
      } else {
        text += "\nparameters: differ (\(p.note ?? "not comparable"))"
      }
      printNow(text)
    }
  }
}
