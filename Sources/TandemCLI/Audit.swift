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
        tandem audit verify --model churn --sample 200

        For each sampled record: the model version's stored parameters must still hash to what the \
        registry recorded (a tampered file fails here), the input read again from its source must \
        hash to the logged input hash, and the model's output must equal the logged one bit for bit. \
        Exit status 0 when all do, 1 otherwise, with one line per failure; 4 when the only failures \
        are records this machine cannot recompute bit for bit (made with other numerics).
        """)

    @OptionGroup var storeOption: StoreOption
    @Option(help: "The model whose audit log to check.") var model: String
    @Option(help: "How many records to re-score (0: all).") var sample = 100
    @Option(help: "Seed for choosing the sample.") var seed: UInt64 = 1

    func run() throws {
      let verification = try AuditVerification(store: try storeOption.open(), model: model, sample: sample, seed: seed)
      for failure in verification.failures + verification.unreproducible { printError("tandem: audit: \(failure)") }
      printNow("\(verification.reproduced) of \(verification.sampled) sampled predictions (of \(verification.logged) logged) reproduced exactly"
               + (verification.unreproducible.isEmpty ? ""
                  : "; \(verification.unreproducible.count) made with numerics this machine cannot compute"))
      if !verification.failures.isEmpty { throw ExitCode(1) }
      if !verification.unreproducible.isEmpty { throw ExitCode(Numerics.cannotReproduceExitStatus) }
    }
  }
}
