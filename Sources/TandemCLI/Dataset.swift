import ArgumentParser
import Foundation
import TandemData

extension Tandem {
  struct Dataset: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Inspect or verify a Tandem HDF5 dataset.",
      subcommands: [Inspect.self, Verify.self])
  }
}

extension Tandem.Dataset {
  struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print the schema, counts per split, class balance and content hash.")

    @Argument(help: "A file written by tandem ingest.") var file: String

    func run() throws {
      printNow(try DatasetInspection(path: file).report())
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
