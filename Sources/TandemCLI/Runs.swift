import ArgumentParser
import Foundation
import TandemStore

extension Tandem {
  struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "List or show the runs recorded in the store's registry.",
      subcommands: [List.self, Show.self])
  }
}

extension Tandem.Runs {
  struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "One line per run, newest first.")

    @OptionGroup var storeOption: StoreOption

    func run() throws {
      let store = try storeOption.open()
      let runs = try store.registry.runs()
      guard !runs.isEmpty else {
        printNow("no runs recorded in \(store.registryPath)")
        return
      }
      var rows = [["RUN", "STATUS", "STARTED", "DURATION", "USER", "WORLD", "SNAPSHOT", "CODE"]]
      for run in runs {
        let status = run.status.count > 40 ? run.status.prefix(39) + "…" : run.status
        let duration = run.endedAt.map { durationText($0.timeIntervalSince(run.startedAt)) } ?? "-"
        rows.append([run.id, String(status), formatDate(run.startedAt), duration, run.user, String(run.worldSize),
                     String(run.snapshotID.prefix(12)), run.codeVersion])
      }
      printNow(alignedColumns(rows))
    }
  }

  struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Every field of one run and its metrics per epoch.")

    @Argument(help: "The run id (its directory name, from tandem runs list).") var id: String
    @OptionGroup var storeOption: StoreOption

    func run() throws {
      let store = try storeOption.open()
      guard let run = try store.registry.run(id: id) else {
        throw StoreError(path: id, message: "no such run in \(store.registryPath) (tandem runs list --store \(store.root) shows them)")
      }
      func reference(_ data: RunRecord.DataReference?) -> String {
        guard let data else { return "-" }
        return "\(data.path), split \(data.split), content sha256 \(data.sha256)"
      }
      let rows = [
        ["run", run.id],
        ["status", run.status],
        ["user", run.user],
        ["started", formatDate(run.startedAt)],
        ["ended", run.endedAt.map { "\(formatDate($0)) (\(durationText($0.timeIntervalSince(run.startedAt))))" } ?? "-"],
        ["directory", run.runDirectory],
        ["snapshot", run.snapshotID],
        ["code", run.codeVersion],
        ["world size", String(run.worldSize)],
        ["train data", reference(run.trainData)],
        ["validation", reference(run.validationData)],
        ["parameters", run.parametersFile ?? "-"],
        ["params sha256", run.parametersSHA256 ?? "-"],
        ["features", run.featureStatistics],
        ["environment", run.environment],
      ]
      var text = alignedColumns(rows)
      text += "\nrun file:\n" + indented(run.configuration)
      text += "\nepochs:" + (run.epochs.isEmpty ? " none recorded" : "\n" + indented(epochTable(run.epochs)))
      printNow(text)
    }

    /// Scalar metrics as a table, one row per epoch (columns: every scalar key
    /// any epoch has); arrays and objects (a confusion matrix) as JSON lines after it.
    func epochTable(_ epochs: [RunRecord.Epoch]) -> String {
      var parsed: [[String: Any]] = []
      var keys = Set<String>()
      var nested: [String] = []
      for epoch in epochs {
        let object = (try? JSONSerialization.jsonObject(with: Data(epoch.metrics.utf8))) as? [String: Any]
        guard let object else {
          parsed.append([:])
          nested.append("epoch \(epoch.epoch): \(epoch.metrics)")
          continue
        }
        var scalars: [String: Any] = [:]
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
          if value is NSNumber || value is String {
            scalars[key] = value
            keys.insert(key)
          } else if let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) {
            nested.append("epoch \(epoch.epoch) \(key): \(String(decoding: data, as: UTF8.self))")
          }
        }
        parsed.append(scalars)
      }
      let columns = keys.sorted().filter { $0 != "epoch" }
      var rows = [["EPOCH"] + columns.map { $0.uppercased() }]
      for (epoch, scalars) in zip(epochs, parsed) {
        rows.append([String(epoch.epoch)] + columns.map { key in
          switch scalars[key] {
          case let number as NSNumber:
            let value = number.doubleValue
            return value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%.4f", value)
          case let string as String: return string
          default: return "-"
          }
        })
      }
      return alignedColumns(rows) + (nested.isEmpty ? "" : "\n" + nested.joined(separator: "\n"))
    }
  }
}

/// `1h02m`, `3m05s`, `12.3s`.
func durationText(_ seconds: Double) -> String {
  let s = Int(seconds.rounded())
  if s >= 3600 { return String(format: "%dh%02dm", s / 3600, s % 3600 / 60) }
  if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
  return String(format: "%.1fs", seconds)
}
