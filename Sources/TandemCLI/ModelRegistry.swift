import ArgumentParser
import Foundation
import TandemStore

extension Tandem {
  struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "The model registry: versions per model name, quality gates, production.",
      subcommands: [List.self, Show.self, Promote.self])
  }
}

/// `NAME` or `NAME@VERSION`.
struct ModelReference: ExpressibleByArgument {
  var name: String
  var version: Int?

  init?(argument: String) {
    let parts = argument.split(separator: "@", omittingEmptySubsequences: false).map(String.init)
    guard !parts[0].isEmpty, parts.count <= 2 else { return nil }
    name = parts[0]
    if parts.count == 2 {
      guard let v = Int(parts[1]), v > 0 else { return nil }
      version = v
    }
  }

  var description: String { version.map { "\(name)@\($0)" } ?? name }
}

extension Tandem.Models {
  struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Every version of every model (or of one), newest first.",
      discussion: """
        tandem models list churn
        tandem models list --json
        """)

    @OptionGroup var storeOption: StoreOption
    @Argument(help: "Only this model name.") var name: String?
    @OptionGroup var output: JSONFlag

    func run() throws {
      let versions = try storeOption.open().registry.modelVersions(name: name)
      if output.json { return try JSONOutput.print("tandem.models", ["versions": versions.map(ModelVersionJSON.init)]) }
      guard !versions.isEmpty else {
        printNow(name.map { "no versions of model \($0)" } ?? "no model versions registered")
        return
      }
      var rows = [["MODEL", "VERSION", "STAGE", "RUN", "THRESHOLD", "ACCURACY", "RECALL", "AUC", "CREATED"]]
      for v in versions {
        rows.append([v.name, String(v.version), v.isProduction ? "production" : "-", v.runID,
                     String(format: "%.4f", v.threshold), String(format: "%.4f", v.metrics.accuracy),
                     String(format: "%.4f", v.metrics.recall), String(format: "%.4f", v.metrics.rocAUC), formatDate(v.createdAt)])
      }
      printNow(alignedColumns(rows))
    }
  }

  struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "One version (the production one unless NAME@VERSION), its gates and promotions.",
      discussion: """
        tandem models show pneumonia@3
        tandem models show churn --json
        """)

    @OptionGroup var storeOption: StoreOption
    @Argument(help: "NAME or NAME@VERSION.") var model: ModelReference
    @OptionGroup var output: JSONFlag

    struct Document: Encodable {
      let version: ModelVersionJSON
      let promotions: [Promotion]
      let retrains: [RetrainDecision]
    }

    func run() throws {
      let registry = try storeOption.open().registry
      let v = try registry.modelVersion(name: model.name, version: model.version)
      let promotions = try registry.promotions(name: v.name).filter { $0.version == v.version }
      let retrains = try registry.retrainDecisions(model: v.name)
      if output.json {
        return try JSONOutput.print("tandem.model", Document(version: ModelVersionJSON(version: v), promotions: promotions, retrains: retrains))
      }
      let m = v.metrics
      func gate(_ value: Double?) -> String { value.map { String(format: ">= %.4f", $0) } ?? "-" }
      var rows = [
        ["model", "\(v.name) version \(v.version)\(v.isProduction ? " (production)" : "")"],
        ["run", v.runID], ["run directory", v.runDirectory], ["snapshot", v.snapshotID],
        ["parameters", "\(v.parametersFile) (sha256 \(v.parametersSHA256))"],
        ["threshold", String(format: "%.6f (%@)", v.threshold, v.thresholdPolicy)],
        ["metrics", String(format: "%@: accuracy %.4f, recall %.4f, precision %.4f, F1 %.4f, ROC AUC %.4f, false negatives %d",
                           m.split.description, m.accuracy, m.recall, m.precision, m.f1, m.rocAUC, m.falseNegatives)],
        ["production then", m.champion.map { String(format: "version %d on the same samples: accuracy %.4f, recall %.4f, ROC AUC %.4f",
                                                          $0.version, $0.accuracy, $0.recall, $0.rocAUC) } ?? "-"],
        ["gates", "recall \(gate(v.gates.minRecall)), accuracy \(gate(v.gates.minAccuracy)), ROC AUC \(gate(v.gates.minAUC)), "
                  + String(format: "at most %.4f below production", v.gates.tolerance)],
        ["created", "\(formatDate(v.createdAt)) by \(v.createdBy)"],
      ]
      for p in promotions {
        rows.append(["promotion", "\(formatDate(p.at)) by \(p.by): \(p.accepted ? "promoted" : "refused"), \(p.reason)"])
      }
      // The model's scheduled retrains, newest last (whichever version they produced).
      for r in retrains.suffix(10) {
        rows.append(["retrain", "\(formatDate(r.startedAt)): \(r.outcome.rawValue), \(r.detail)" + (r.runID.map { " (run \($0))" } ?? "")])
      }
      printNow(alignedColumns(rows))
    }
  }

  struct Promote: ParsableCommand, UsageChecked {
    static let configuration = CommandConfiguration(
      abstract: "Put a version in production if it passes its gates and is no worse than production.",
      discussion: """
        tandem models promote churn@3

        Refused, with each failed gate named, when the version is below a quality gate of its \
        run file's [release] section or more than the tolerance below production on the same \
        test samples; production then stays as it was (exit 1).
        """)

    @OptionGroup var storeOption: StoreOption
    @Argument(help: "NAME@VERSION, as models show and predict take it (or NAME VERSION).") var model: ModelReference
    @Argument(help: "The version, when the first argument is a bare NAME.") var version: Int?

    func checkUsage() throws {
      guard (model.version == nil) != (version == nil) else {
        throw ValidationError(model.version == nil ? "give the version: NAME@VERSION, e.g. \(model.name)@1"
                                                   : "give the version once: \(model.description) or \(model.name) VERSION")
      }
    }

    func run() throws {
      let promoted = try storeOption.open().registry.promote(name: model.name, version: model.version ?? version!)
      printNow("\(promoted.name) version \(promoted.version) is in production (run \(promoted.runID))")
    }
  }
}
