import ArgumentParser
import Foundation
import TandemData
import TandemMPI
import TandemScoring
import TandemStore

extension Tandem {
  struct Predict: ParsableCommand, UsageChecked {
    static let configuration = CommandConfiguration(
      abstract: "Score data with a registered model; every prediction goes to the audit log.",
      discussion: """
        mpirun -np N tandem predict --model NAME[@VERSION] --input PATH --out preds.csv
        PATH is a Tandem HDF5 file, a CSV or a folder of images. Sharded across ranks; preds.csv \
        keeps input order: id, probability, label, threshold, needs_review. Samples that cannot be scored (an unreadable file, an image smaller than \
        the model's input, a CSV value never seen in training, a number that is not finite) go to \
        preds.csv.errors with the reason; the rest are scored. A CSV must have every column the \
        model was trained on. A row with a number more than 10 training standard deviations from \
        the training mean is scored but marked needs_review, whatever its probability.

        tandem predict --model pneumonia FILE.jpeg
        Prints the label, the probability, and whether it lies within --review-band of the \
        threshold, where a person should look. \
        Each prediction is appended to STORE/audit/NAME.jsonl (model, version, snapshot, input \
        hash, output, threshold, time); `tandem audit verify` re-scores a sample of it.
        """)

    @OptionGroup var storeOption: StoreOption
    @Option(help: "NAME or NAME@VERSION (default: the production version).") var model: ModelReference
    @OptionGroup var deviceOption: DeviceOption
    @Option(help: "A Tandem dataset (.h5), a CSV file, a directory of images, or an image.") var input: String?
    @Argument(help: "One image (or any input), instead of --input.") var file: String?
    @Option(help: "Write predictions here (CSV); without it they are printed.") var out: String?
    @Option(name: .customLong("review-band"), help: "Probabilities this close to the threshold need a person.")
    var reviewBand = 0.1

    func checkUsage() throws {
      guard (input == nil) != (file == nil) else { throw ValidationError("give --input PATH or one FILE") }
      guard reviewBand >= 0 && reviewBand < 1 else { throw ValidationError("--review-band must be in [0, 1), got \(reviewBand)") }
    }

    func run() throws {
      let path = input ?? file!
      try MPIWorld.run { world in
        let (scorer, samples) = try world.agree { () throws -> (Scorer, [(id: String, source: SampleSource)]) in
          let store = try storeOption.open()
          let scorer = try Scorer(store: store, version: try store.registry.modelVersion(name: model.name, version: model.version))
          try deviceOption.place(scorer.trained.model)
          return (scorer, try scorer.list(path))
        }
        let batch = try BatchPrediction(scorer: scorer, samples: samples, over: world)
        try world.agree {
          guard world.rank == 0 else { return }
          try write(batch, input: path)
        }
      }
    }

    private func write(_ batch: BatchPrediction, input: String) throws {
      let scored = batch.predictions(reviewBand: reviewBand)
      let records = scored.map(\.record)
      if let torn = try AuditLog(store: try storeOption.open(), model: batch.version.name).append(records) {
        printError("tandem: note: the audit log ended in a torn line (a crash mid-append); it was moved to \(torn)")
      }
      let failures = batch.failures
      if let out {
        try AtomicFile.write(Data(BatchPrediction.csv(records).utf8), to: out)
        if !failures.isEmpty { try AtomicFile.write(Data(batch.errorsCSV.utf8), to: out + ".errors") }
        printNow("\(records.count) predictions by \(batch.version.name)@\(batch.version.version) in \(out)"
                 + (failures.isEmpty ? "" : "; \(failures.count) not scored, listed in \(out).errors"))
      } else {
        for (r, outOfRange) in scored {
          let note = outOfRange ? ", input far outside the training data: needs a person"
            : r.needsReview ? ", within the review band: needs a person" : ""
          printNow(String(format: "%@: %@ (probability %.4f, threshold %.4f)%@", r.id, r.label, r.probability, r.threshold, note))
        }
        for f in failures { printNow("\(f.id): not scored: \(f.reason)") }
      }
      if records.isEmpty {
        // Say why: with one sample (a single image) the reason is the whole story.
        let reason = failures.first.map { failures.count == 1 ? ": \($0.reason)" : " (first: \($0.reason))" } ?? ""
        throw DataError(path: input, message: "nothing could be scored\(reason)")
      }
    }
  }
}
