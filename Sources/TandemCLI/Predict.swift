import ArgumentParser
import Foundation
import TandemData
import TandemMPI
import TandemScoring
import TandemStore
import TandemTraining

extension Tandem {
  struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Score data with a registered model; every prediction goes to the audit log.",
      discussion: """
        mpirun -np N tandem predict --model NAME[@VERSION] --input FILE.h5|FILE.csv|DIR --out preds.csv
          Sharded across ranks; preds.csv keeps input order: id, probability, label, threshold,
          needs_review. Samples that cannot be scored (an unreadable file, an image smaller than
          the model's input, a CSV value never seen in training, a number that is not finite) go to
          preds.csv.errors with the reason; the rest are scored. A CSV must have every column the
          model was trained on. A row with a number more than 10 training standard deviations from
          the training mean is scored but marked needs_review, whatever its probability.
        tandem predict --model pneumonia FILE.jpeg
          Prints the label, the probability, and whether it lies within --review-band of the
          threshold, where a person should look.
        Each prediction is appended to STORE/audit/NAME.jsonl (model, version, snapshot, input
        hash, output, threshold, time); `tandem audit verify` re-scores a sample of it.
        """)

    @OptionGroup var storeOption: StoreOption
    @Option(help: "NAME or NAME@VERSION (default: the production version).") var model: ModelReference
    @Option(help: "A Tandem dataset (.h5), a CSV file, a directory of images, or an image.") var input: String?
    @Argument(help: "One image (or any input), instead of --input.") var file: String?
    @Option(help: "Write predictions here (CSV); without it they are printed.") var out: String?
    @Option(name: .customLong("review-band"), help: "Probabilities this close to the threshold need a person.")
    var reviewBand = 0.1

    func validate() throws {
      guard (input == nil) != (file == nil) else { throw ValidationError("give --input PATH or one FILE") }
      guard reviewBand >= 0 && reviewBand < 1 else { throw ValidationError("--review-band must be in [0, 1), got \(reviewBand)") }
    }

    func run() throws {
      let path = input ?? file!
      try MPIWorld.run { world in
        let (scorer, samples) = try world.agree { () throws -> (Scorer, [(id: String, source: SampleSource)]) in
          let store = try storeOption.open()
          let version = try store.registry.modelVersion(name: model.name, version: model.version)
          let scorer = try Scorer(store: store, version: version)
          return (scorer, try scorer.list(path))
        }
        // Each rank prepares and scores a contiguous share; the sums put every
        // score in its slot, written by exactly one rank.
        let n = samples.count, r = world.rank, size = world.worldSize
        let share = samples[r * n / size..<(r + 1) * n / size]
        let prepared = try world.agree { try scorer.prepare(share) }
        var scores = [Float](repeating: 0, count: n), ok = [Float](repeating: 0, count: n)
        let good = prepared.indices.filter { (try? prepared[$0].input.get()) != nil }
        let inputs = good.flatMap { try! prepared[$0].input.get() }
        let local = try scorer.scores(inputs, count: good.count)
        var notes: [String] = []
        for (k, p) in good.enumerated() {
          let input = try prepared[p].input.get()
          scores[share.startIndex + p] = local[k]
          // 2: scored, but the input lies far outside the training data.
          ok[share.startIndex + p] = scorer.isOutOfRange(input) ? 2 : 1
          notes.append("\(share.startIndex + p)\t\(Scorer.inputHash(input[...]))")
        }
        for (p, item) in prepared.enumerated() {
          if case .failure(let error) = item.input { notes.append("\(share.startIndex + p)\t!\(error.message)") }
        }
        try world.allreduce(&scores, .sum)
        try world.allreduce(&ok, .sum)
        var hashes: [Int: String] = [:], errors: [Int: String] = [:]
        for root in 0..<size {
          let text = try world.broadcast(bytes: root == r ? Array(notes.joined(separator: "\n").utf8) : [], root: root)
          for line in String(decoding: text, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: "\t", maxSplits: 1).map(String.init)
            guard parts.count == 2, let i = Int(parts[0]) else { continue }
            if parts[1].hasPrefix("!") { errors[i] = String(parts[1].dropFirst()) } else { hashes[i] = parts[1] }
          }
        }
        try world.agree {
          guard r == 0 else { return }
          try report(scorer: scorer, samples: samples, scores: scores, ok: ok, hashes: hashes, errors: errors)
        }
      }
    }

    private func report(scorer: Scorer, samples: [(id: String, source: SampleSource)], scores: [Float], ok: [Float],
                        hashes: [Int: String], errors: [Int: String]) throws {
      let version = scorer.version
      let names = scorer.classNames
      var records: [PredictionRecord] = []
      var lines = ["id,probability,label,threshold,needs_review"]
      let now = Date()
      for i in samples.indices where ok[i] >= 1 {
        let p = scores[i]
        let label = Double(p) >= version.threshold ? names[1] : names[0]
        let review = abs(Double(p) - version.threshold) < reviewBand || ok[i] == 2
        lines.append("\(csvField(samples[i].id)),\(p),\(csvField(label)),\(version.threshold),\(review)")
        records.append(PredictionRecord(
          model: version.name, version: version.version, snapshotID: version.snapshotID, parametersSHA256: version.parametersSHA256,
          id: samples[i].id, source: samples[i].source, inputSHA256: hashes[i] ?? "", probability: Double(p),
          probabilityBits: p.bitPattern, label: label, threshold: version.threshold, needsReview: review, time: now,
          user: RunRecord.currentUser()))
        if out == nil {
          printNow(String(format: "%@: %@ (probability %.4f, threshold %.4f)%@", samples[i].id, label, p, version.threshold,
                          ok[i] == 2 ? ", input far outside the training data: needs a person"
                            : review ? ", within the review band: needs a person" : ""))
        }
      }
      let store = try storeOption.open()
      if let torn = try AuditLog(store: store, model: version.name).append(records) {
        printError("tandem: note: the audit log ended in a torn line (a crash mid-append); it was moved to \(torn)")
      }
      let failed = samples.indices.filter { ok[$0] < 1 }
      if let out {
        try AtomicFile.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: out)
        if !failed.isEmpty {
          let rows = ["id,error"] + failed.map { "\(csvField(samples[$0].id)),\(csvField(errors[$0] ?? "not scored"))" }
          try AtomicFile.write(Data((rows.joined(separator: "\n") + "\n").utf8), to: out + ".errors")
        }
        printNow("\(records.count) predictions by \(version.name)@\(version.version) in \(out)"
                 + (failed.isEmpty ? "" : "; \(failed.count) not scored, listed in \(out).errors"))
      } else {
        for i in failed { printNow("\(samples[i].id): not scored: \(errors[i] ?? "unknown error")") }
      }
      if records.isEmpty {
        // Say why: with one sample (a single image) the reason is the whole story.
        let reason = failed.first.flatMap { errors[$0] }.map { failed.count == 1 ? ": \($0)" : " (first: \($0))" } ?? ""
        throw DataError(path: input ?? file!, message: "nothing could be scored\(reason)")
      }
    }
  }
}

/// A CSV field, quoted when it needs to be.
func csvField(_ text: String) -> String {
  text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
}

