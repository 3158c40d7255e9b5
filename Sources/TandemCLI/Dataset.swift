import ArgumentParser
import Foundation
import TandemData

extension Tandem {
  struct Dataset: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Inspect or verify a Tandem HDF5 dataset.",
      subcommands: [Inspect.self, Verify.self, BenchRead.self, IsolatedHash.self])
  }
}

extension Tandem.Dataset {
  struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print the schema, counts per split, class balance and content hash.")

    @Argument(help: "A file written by tandem ingest.") var file: String
    @OptionGroup var output: JSONFlag

    func run() throws {
      let inspection = try DatasetInspection(path: file)
      if output.json { return try JSONOutput.print("tandem.dataset", ["dataset": try inspection.summary()]) }
      printNow(try inspection.report())
    }
  }

  struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Recompute the content hash and compare it with the stored one; exit 1 on mismatch.")

    @Argument(help: "A file written by tandem ingest.") var file: String

    func run() throws {
      let result = try DatasetInspection.verify(path: file)
      guard result.matches else {
        throw DataError(path: file, message: "content hash mismatch: stored \(result.stored), computed \(result.computed)")
      }
      printNow("\(file): ok, content sha256 \(result.computed)")
    }
  }
}

extension Tandem.Dataset {
  struct BenchRead: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "bench-read",
      abstract: "Time random batch reads through DatasetReader; prints one JSON line.")

    @Argument(help: "A file written by tandem ingest.") var file: String
    @Option(help: "Samples per batch.") var batch = 64
    @Option(help: "Batches to time.") var batches = 500
    @Option(help: "Seed for the random indices.") var seed: UInt64 = 7

    func validate() throws {
      guard batch > 0, batches > 0 else { throw ValidationError("--batch and --batches must be positive") }
    }

    func run() throws {
      var bench = ReadBenchmark()
      bench.batchSize = batch
      bench.batches = batches
      bench.seed = seed
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
      printNow(String(decoding: try encoder.encode(try bench.run(path: file)), as: UTF8.self))
    }
  }
}

extension Tandem.Dataset {
  /// The child of `HDF5Isolation`: reads a file whole where a crash of the
  /// HDF5 library harms nobody, and prints its content hash.
  struct IsolatedHash: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "isolated-hash", shouldDisplay: false)

    @Argument var file: String

    func run() throws {
      do {
        printNow(try HDF5Isolation.childHash(path: file))
      } catch {
        printError(error.message)
        throw ExitCode(HDF5Isolation.unreadableStatus)
      }
    }
  }
}
