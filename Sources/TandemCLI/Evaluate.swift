import ArgumentParser
import Foundation
import TandemData
import TandemRun
import TandemScoring
import TandemStore
import TandemTensor

extension Tandem {
  struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Evaluate a finished run on a split, tune its threshold, and register it as a model version.",
      discussion: """
        tandem evaluate runs/xray-cnn-deep-20261201-020000
        tandem evaluate RUN --shifts --no-register --json

        The decision threshold is tuned on the run's validation split: for task pneumonia, the \
        highest threshold whose recall reaches release.target_recall (default 0.95); for \
        pneumonia-type, the most accurate one; churn keeps 0.5. The split named here is then \
        scored at that threshold: accuracy, ROC AUC, precision, recall, F1, confusion matrix, \
        calibration. Writes RUN/evaluation-SPLIT.json, and registers the run as the next version \
        of the model named after its task (pneumonia, pneumonia-type, churn), its parameters \
        copied into the store; `tandem models promote` then checks the gates.
        """)

    @Argument(help: "The run directory.") var runDirectory: String
    @Option(help: "The split to measure: test (default), val or train.") var split = Split.test
    @Option(help: "The store directory (default: the run file's store, relative to the working directory).") var store: String?
    @Flag(help: "Only evaluate; do not register a model version.") var noRegister = false
    @Flag(help: "Also score the split under fixed acquisition shifts (contrast, gamma, blur, zoom, ...; images only).")
    var shifts = false
    @OptionGroup var deviceOption: DeviceOption
    @OptionGroup var output: JSONFlag

    struct Document: Encodable {
      let evaluation: Evaluation
      let file: String
      let registered: ModelVersionJSON?
    }

    func run() throws {
      let directory = runDirectory.hasSuffix("/") ? String(runDirectory.dropLast()) : runDirectory
      let lock = try RunLock.take(run: directory)
      defer { withExtendedLifetime(lock) {} }
      if let note = Evaluation.replacementNote(at: Evaluation.path(run: directory, split: split)) { printError("tandem: note: \(note)") }
      let evaluation = try Evaluation.evaluate(runDirectory: directory, split: split, shifts: shifts,
                                                 prepare: deviceOption.place)
      let file = Evaluation.path(run: directory, split: split)
      try evaluation.write(to: file)
      if output.json {
        let version = noRegister ? nil : try ModelRegistration.register(evaluation, runDirectory: directory, store: store)
        return try JSONOutput.print("tandem.evaluation", Document(evaluation: evaluation, file: file, registered: version.map(ModelVersionJSON.init)))
      }
      let m = evaluation.metrics
      printNow("\(evaluation.run): \(evaluation.model), task \(evaluation.task), \(m.count) \(split) samples")
      printNow(String(format: "threshold %.4f (%@); on val: recall %.4f, accuracy %.4f",
                      evaluation.threshold, evaluation.thresholdPolicy, evaluation.validation.recall, evaluation.validation.accuracy))
      printNow(String(format: "%@: accuracy %.4f  ROC AUC %.4f  precision %.4f  recall %.4f  F1 %.4f  false negatives %d  ECE %.4f",
                      split.description, m.accuracy, m.rocAUC, m.precision, m.recall, m.f1, evaluation.falseNegatives,
                      evaluation.expectedCalibrationError))
      let names = evaluation.classNames.count == 2 ? evaluation.classNames : ["0", "1"]
      printNow("confusion (rows true, columns predicted): \(names[0]) \(m.confusion[0]), \(names[1]) \(m.confusion[1])")
      if let t = evaluation.temperature, let ece = evaluation.calibratedExpectedCalibrationError {
        printNow(String(format: "specificity %.4f; temperature %.3f (fitted on val), ECE after scaling %.4f", m.specificity, t, ece))
      }
      for r in evaluation.shifts ?? [] {
        printNow(String(format: "  shift %-16@ accuracy %.4f  recall %.4f  specificity %.4f  AUC %.4f",
                        r.shift as NSString, r.accuracy, r.recall, r.specificity, r.rocAUC))
      }
      printNow("wrote \(Evaluation.path(run: directory, split: split)) (numerics \(Numerics.identifier))")
      guard !noRegister else { return }

      let version = try ModelRegistration.register(evaluation, runDirectory: directory, store: store)
      printNow("registered \(version.name) version \(version.version) (run \(version.runID), snapshot \(version.snapshotID.prefix(12))…)")
    }
  }
}
