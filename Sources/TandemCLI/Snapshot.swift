import ArgumentParser
import Foundation
import TandemDistributed
import TandemStore

extension Tandem {
  struct Snapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "List, show or export the snapshots runs started from (data, config, code, machine).",
      subcommands: [List.self, Show.self, Export.self])
  }
}

/// `--store DIR`, shared by `tandem snapshot` and `tandem runs`.
struct StoreOption: ParsableArguments {
  @Option(help: "The store directory (datasets, snapshots, run and model registry), relative to the working directory.") var store = "store"

  /// The existing store; reading commands never create one.
  func open() throws -> Store { try Store(root: store, create: false) }
}

/// What `body` reads from the store's registry, or nil, said on standard
/// error, when the registry cannot be read: the snapshots stay listable.
func registryRead<T>(_ store: Store, _ body: (RunRegistry) throws -> T) -> T? {
  do { return try body(try store.registry) } catch {
    printError("tandem: note: \(ErrorText.line(error))")
    return nil
  }
}

extension Tandem.Snapshot {
  struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "One line per snapshot, most recently stored first.",
      discussion: """
        tandem snapshot list --store store
        """)

    @OptionGroup var storeOption: StoreOption
    @OptionGroup var output: JSONFlag

    struct Entry: Encodable {
      let id: String
      let datasetFileName, datasetSha256, code: String
      let seed: UInt64
      let worldSize: Int
      /// Runs recorded with this snapshot; absent when the registry cannot be read.
      let runs: Int?
    }

    func run() throws {
      let store = try storeOption.open()
      let snapshots = try store.snapshots()
      if output.json {
        let counts = registryRead(store) { registry in Dictionary(grouping: try registry.runs(), by: \.snapshotID).mapValues(\.count) }
        return try JSONOutput.print("tandem.snapshots", ["snapshots": snapshots.map { id, m in
          Entry(id: id, datasetFileName: m.datasetFileName, datasetSha256: m.datasetSHA256, code: m.code.summary, seed: m.seed,
                worldSize: m.worldSize, runs: counts.map { $0[id] ?? 0 })
        }])
      }
      guard !snapshots.isEmpty else {
        printNow("no snapshots in \(store.root)")
        return
      }
      // A damaged registry must not hide the snapshots: it is noted, and the counts shown as "?".
      let counts = registryRead(store) { registry in
        Dictionary(grouping: try registry.runs(), by: \.snapshotID).mapValues(\.count)
      }
      var rows = [["ID", "DATASET", "SEED", "WORLD", "CODE", "RUNS"]]
      for (id, manifest) in snapshots {
        let runs = counts.map { String($0[id] ?? 0) } ?? "?"
        rows.append([id, manifest.datasetFileName, String(manifest.seed), String(manifest.worldSize),
                     manifest.code.summary, runs])
      }
      printNow(alignedColumns(rows))
    }
  }

  struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Every field of one snapshot, and the runs that used it.",
      discussion: """
        tandem snapshot show 0e05e081caf8...  (the full 64-digit id)
        """)

    @Argument(help: "The snapshot id (64 hex digits, from tandem snapshot list).") var id: String
    @OptionGroup var storeOption: StoreOption
    @OptionGroup var output: JSONFlag

    struct Document: Encodable {
      struct Run: Encodable { let id, status: String; let startedAt: Date }
      let id: String
      let manifest: SnapshotManifest
      /// The store's copy of the dataset; absent when it is missing.
      let datasetStored: String?
      let runs: [Run]?
    }

    func run() throws {
      let store = try storeOption.open()
      let m = try store.snapshot(id: id)
      let e = m.environment
      let datasetPath = try store.datasetPath(sha256: m.datasetSHA256)
      let stored = FileManager.default.fileExists(atPath: datasetPath) ? datasetPath : "MISSING from the store"
      if output.json {
        let runs = registryRead(store) { try $0.runs(snapshotID: id) }
        return try JSONOutput.print("tandem.snapshot", Document(
          id: id, manifest: m, datasetStored: FileManager.default.fileExists(atPath: datasetPath) ? datasetPath : nil,
          runs: runs?.map { .init(id: $0.id, status: $0.status.description, startedAt: $0.startedAt) }))
      }
      var rows = [
        ["snapshot", id],
        ["dataset", "\(m.datasetFileName), content sha256 \(m.datasetSHA256)"],
        ["stored as", stored],
        ["seed", String(m.seed)],
        ["world size", String(m.worldSize)],
        ["code", m.code.summary + (m.code.gitCommit.map { ", commit \($0)" } ?? ", no git commit")],
        ["os", e.os],
        ["kernel", e.kernel],
        ["host", e.hostname],
        ["cpu", "\(e.cpuModel), \(e.logicalCPUs) logical CPUs"],
        ["cpu flags", e.cpuFlags.joined(separator: " ")],
        ["numerics", (e.numerics ?? "unrecorded (before pinned numerics; bits follow the OpenBLAS core)")
                       + (e.numericKernel.map { ", kernel \($0)" } ?? "")],
        ["openblas", "\(e.openBLASConfig); core \(e.openBLASCore); \(e.blasThreads) thread(s) per rank"],
        ["mpi", e.mpiVersion],
        ["hdf5", e.hdf5Version],
      ]
      for (key, value) in m.resolvedConfig.sorted(by: { $0.key < $1.key }) {
        rows.append([key == m.resolvedConfig.keys.min() ? "settings" : "", "\(key) = \(value)"])
      }
      var text = alignedColumns(rows)
      text += "\nrun file:\n" + indented(m.configTOML)
      switch registryRead(store, { try $0.runs(snapshotID: id) }) {
      case let runs? where !runs.isEmpty:
        text += "\nruns:\n" + indented(alignedColumns(runs.map { [$0.id, $0.status.description, formatDate($0.startedAt)] }))
      case .some: text += "\nruns: none recorded"
      case nil: text += "\nruns: unknown (the registry cannot be read)"
      }
      printNow(text)
    }
  }

  struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Write manifest.json, config.toml and the dataset (verified) into a directory, to repeat the run elsewhere.",
        discussion: """
          tandem snapshot export 0e05e081caf8... audit-2026-12/
          """)

    @Argument(help: "The snapshot id (64 hex digits, from tandem snapshot list).") var id: String
    @Argument(help: "Output directory (created; existing files are never replaced).") var directory: String
    @OptionGroup var storeOption: StoreOption

    func run() throws {
      let store = try storeOption.open()
      try store.exportSnapshot(id: id, to: directory)
      let files = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
      printNow("exported snapshot \(id.prefix(12)) to \(directory): \(files.joined(separator: ", "))")
    }
  }
}
