import ArgumentParser
import Foundation
import TandemData
import TandemExplain
import TandemRun

extension Tandem {
  struct Explain: ParsableCommand, UsageChecked {
    static let configuration = CommandConfiguration(
      abstract: "Explain a finished run's predictions: feature contributions for tables, occlusion heatmaps for X-rays.",
      discussion: """
        tandem explain runs/churn-mlp-20261201-020000 --count 5
        tandem explain runs/xray-cnn-20261201-020000 --rows 3,17

        Tables (churn-logreg, churn-mlp): each source column's contribution to the logit, one-hot \
        categories summed back into their column. The baseline is the zero standardised input (numeric \
        columns at their training mean, no category set), and baseline + contributions = logit. For a \
        logistic regression the split is exact (w_j * x_j); for an MLP it is integrated gradients from \
        that baseline (256 midpoint steps), which keeps the same identity up to the midpoint rule's \
        error (printed). Prints the top contributions of each explained row and writes OUT/importance.json \
        (mean |contribution| per column over --split, descending) and OUT/contributions.csv.

        Images (xray-cnn): slides a square patch of side S/8 with stride S/16, filled with the dataset \
        mean, over each explained image, scores every occluded copy in batches, and writes \
        OUT/heatmap-ROW.png: the X-ray with the drop in the positive-class probability overlaid.

        Rows are rows of the dataset file (any split); without --rows, the first --count rows of --split.
        """)

    @Argument(help: "The run directory.") var runDirectory: String
    @Option(help: "The split to rank columns over and to take rows from: test (default), val or train.") var split = Split.test
    @Option(help: "Comma-separated dataset rows to explain, e.g. 0,1,2.") var rows: String?
    @Option(help: "Explain the first N rows of the split (default 5).") var count: Int?
    @Option(help: "Output directory (default: RUN/explanations).") var out: String?

    func checkUsage() throws {
      if rows != nil && count != nil { throw ValidationError("give --rows or --count, not both") }
      if let count, count < 0 { throw ValidationError("--count must not be negative, got \(count)") }
      _ = try rowList()
    }

    private func rowList() throws -> [Int]? {
      try rows.map { text in
        try text.split(separator: ",", omittingEmptySubsequences: false).map { part in
          guard let row = Int(part.trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError("--rows: '\(part)' is not a row number")
          }
          return row
        }
      }
    }

    func run() throws {
      let directory = runDirectory.hasSuffix("/") ? String(runDirectory.dropLast()) : runDirectory
      let output = out ?? directory + "/explanations"
      let lock = out == nil ? try RunLock.take(run: directory) : nil
      defer { withExtendedLifetime(lock) {} }
      let run = try RunExplanation(runDirectory: directory)
      let rows = try run.rows(try rowList(), count: count ?? 5, split: split)
      do {
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
      } catch {
        throw DataError(path: output, message: "cannot create the output directory: \(error.localizedDescription)")
      }
      if run.reader.kind == .table {
        try explainTable(run, rows: rows, split: split, output: output)
      } else {
        try explainImages(run, rows: rows, output: output)
      }
    }

    private func explainTable(_ run: RunExplanation, rows: [Int], split: Split, output: String) throws {
      let explanation = try run.explainTable(rows: rows, split: split)
      let positive = run.reader.classNames(run.trained.labelTask).last ?? "1"
      printNow("\(run.trained.model.name): \(explanation.method.rawValue) contributions to the logit, "
               + String(format: "baseline %.4f, largest |baseline + contributions - logit| %.2g",
                        explanation.baseline, explanation.completenessGap))
      for row in explanation.rows {
        printNow(String(format: "row %d (%@): p(%@) %.4f, logit %.4f", row.index, row.id, positive, row.probability, row.logit))
        for c in row.contributions.sorted(by: { abs($0.contribution) > abs($1.contribution) }).prefix(5) {
          printNow("  " + c.column.padding(toLength: 18, withPad: " ", startingAt: 0) + " "
                   + c.value.padding(toLength: 28, withPad: " ", startingAt: 0) + String(format: " %+.4f", c.contribution))
        }
      }
      try explanation.write(to: output)
      printNow("importance over \(explanation.splitCount) \(split) rows: "
               + explanation.importance.prefix(5).map { String(format: "%@ %.4f", $0.feature, $0.importance) }.joined(separator: ", "))
      printNow("wrote \(output)/importance.json, \(output)/contributions.csv")
    }

    private func explainImages(_ run: RunExplanation, rows: [Int], output: String) throws {
      let positive = run.reader.classNames(run.trained.labelTask).last ?? "1"
      for explanation in try run.explainImages(rows: rows, directory: output) {
        let map = explanation.map, hot = map.hottest
        printNow(String(format: "row %d (%@): p(%@) %.4f; hottest region rows %d-%d, columns %d-%d (probability drop %.4f) -> %@",
                        explanation.index, explanation.label, positive, map.score, hot.row, hot.row + map.patch - 1,
                        hot.column, hot.column + map.patch - 1, hot.drop, explanation.file))
      }
    }
  }
}
