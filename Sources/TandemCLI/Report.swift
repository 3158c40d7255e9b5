import ArgumentParser
import Foundation
import TandemReport
import TandemRun
import TandemData

extension Tandem {
  struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Write a self-contained HTML report of a finished run.",
      discussion: """
        tandem report runs/churn-mlp-20261201-020000 --out churn-report.html

        One file with no network references: the data and its splits; training and validation \
        loss on one chart, the learning rate, validation metrics; time per rank; the evaluation \
        (confusion matrix with a colour scale, ROC and precision-recall curves, thresholds, \
        calibration, and the production version on the same test samples) when `tandem evaluate` \
        has run; explanations when `tandem explain` has; the snapshot manifest, environment and \
        registry row from the store, and the run file. Charts are inline SVG; images are data: URIs.
        """)

    @Argument(help: "The run directory.") var runDirectory: String
    @Option(help: "The HTML file to write (default: RUN/report.html).") var out: String?
    @Option(help: "The store directory (default: the run file's store, relative to the working directory).") var store: String?

    func run() throws {
      // Everything is read before the output is created, so bad input leaves no file.
      let lock = out == nil ? try RunLock.take(run: runDirectory) : nil
      let report = try RunReport(runDirectory: runDirectory, store: store)
      let page = report.page()
      let path = out ?? report.runDirectory + "/report.html"
      try AtomicFile.write(Data(page.html.utf8), to: path)
      withExtendedLifetime(lock) {}
      printNow("wrote \(path) (\(page.charts) charts)")
    }
  }
}
