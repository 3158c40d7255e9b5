import ArgumentParser
import Foundation
import TandemScoring
import TandemStore
import TandemTensor

extension Tandem {
  struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Check past predictions against the audit log.",
      subcommands: [Verify.self])
  }
}

extension Tandem.Audit {
  struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Re-score a sample of logged predictions; every one must give the identical output.",
      discussion: """
        For each sampled record: the model version's stored parameters must still hash to what the
        registry recorded (a tampered file fails here), the input read again from its source must
        hash to the logged input hash, and the model's output must equal the logged one bit for bit.
        Exit status 0 when all do, 1 otherwise, with one line per failure; 4 when the only failures
        are records this machine cannot recompute bit for bit (made with other numerics).
        """)

    @OptionGroup var storeOption: StoreOption
    @Option(help: "The model whose audit log to check.") var model: String
    @Option(help: "How many records to re-score (0: all).") var sample = 100
    @Option(help: "Seed for choosing the sample.") var seed: UInt64 = 1

    func run() throws {
      let store = try storeOption.open()
      let log = AuditLog(store: store, model: model)
      let records = try log.records()
      var chosen = Array(records.indices)
      if sample > 0 && sample < chosen.count {
        var rng = SeededGenerator(seed: seed)
        chosen.shuffle(using: &rng)
        chosen = Array(chosen.prefix(sample)).sorted()
      }
      var scorers: [Int: Scorer] = [:]
      var failures: [String] = []
      var unreproducible: [String] = []
      for i in chosen {
        let record = records[i]
        let what = "\(log.path) line \(i + 1) (\(record.id), \(record.model)@\(record.version))"
        if case .notReproducible(let why) = Numerics.reproducibility(of: record.numerics) {
          unreproducible.append("\(what): cannot be recomputed bit for bit here: \(why)")
          continue
        }
        do {
          if scorers[record.version] == nil {
            let version = try store.registry.modelVersion(name: record.model, version: record.version)
            guard version.parametersSHA256 == record.parametersSHA256 else {
              throw ValidationError("the registry's parameters for this version are not those the prediction used")
            }
            scorers[record.version] = try Scorer(store: store, version: version)
          }
          let scorer = scorers[record.version]!
          let prepared = try scorer.prepare([(record.id, record.source)][...])[0]
          let input = try prepared.input.get()
          guard Scorer.inputHash(input[...]) == record.inputSHA256 else {
            failures.append("\(what): the input at \(record.source.path) changed since it was scored")
            continue
          }
          let score = try scorer.scores(input, count: 1)[0]
          guard score.bitPattern == record.probabilityBits else {
            failures.append("\(what): output \(score) differs from the logged \(record.probability)")
            continue
          }
        } catch {
          failures.append("\(what): \(error)")
        }
      }
      for failure in failures + unreproducible { printError("tandem: audit: \(failure)") }
      let reproduced = chosen.count - failures.count - unreproducible.count
      printNow("\(reproduced) of \(chosen.count) sampled predictions (of \(records.count) logged) reproduced exactly"
               + (unreproducible.isEmpty ? "" : "; \(unreproducible.count) made with numerics this machine cannot compute"))
      if !failures.isEmpty { throw ExitCode(1) }
      if !unreproducible.isEmpty { throw ExitCode(Numerics.cannotReproduceExitStatus) }
    }
  }
}
