import ArgumentParser
import Foundation
import TandemData

extension Tandem {
  struct Dataset: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Inspect or verify a Tandem HDF5 dataset.",
      subcommands: [Inspect.self, Verify.self, IsolatedHash.self])
  }
}

extension Tandem.Dataset {
  struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print the schema, counts per split, class balance and content hash.",
        discussion: """
          tandem dataset inspect churn.h5
          tandem dataset inspect xray.h5 --json
          """)

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
      abstract: "Recompute the content hash and compare it with the stored one; exit 1 on mismatch.",
        discussion: """
          tandem dataset verify xray.h5
          """)

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
