import Foundation
import Testing
import TandemData
import TandemDistributed
import TandemNN
import TandemRun
import TandemScoring
import TandemStore

/// A store holding one registered churn-logreg version (He-initialised, not
/// trained: scoring must not care), made through the library as training
/// and `tandem evaluate` would.
struct ScoringFixture {
  let folder: String
  let store: Store
  let version: ModelVersion
  /// Raw rows to score: the training CSV's columns.
  let csv: String

  init() throws {
    folder = NSTemporaryDirectory() + "tandem-scoring-tests-\(getpid())-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder + "/run", withIntermediateDirectories: true)
    var training = "id,tenure,plan,Churn\n"
    for row in 0..<60 { training += "c\(row),\(row % 17),\(["basic", "plus", "max"][row % 3]),\(row % 4 == 0 ? "Yes" : "No")\n" }
    try training.write(toFile: folder + "/train.csv", atomically: true, encoding: .utf8)
    var options = TableIngestOptions()
    options.labelColumn = "Churn"
    options.idColumn = "id"
    options.tandemVersion = "test"
    let dataset = folder + "/train.h5"
    let ingested = try TableIngest.run(csv: folder + "/train.csv", output: try AtomicOutput(path: dataset, replacing: false),
                                       options: options)
    store = try Store(root: folder + "/store")
    try store.storeDataset(at: dataset, contentSHA256: ingested.contentSHA256)
    let config = "model = \"churn-logreg\"\ndataset = \"\(dataset)\"\nstore = \"\(store.root)\"\n"
    try config.write(toFile: folder + "/run/config.toml", atomically: true, encoding: .utf8)
    let environment = EnvironmentInfo(
      os: "test", kernel: "test", cpuModel: "test", cpuFlags: [], logicalCPUs: 1, openBLASConfig: "", openBLASCore: "",
      blasThreads: 1, mpiVersion: "", hdf5Version: "", hostname: "test")
    let snapshot = try store.saveSnapshot(SnapshotManifest(
      datasetSHA256: ingested.contentSHA256, datasetFileName: dataset, configTOML: config,
      resolvedConfig: try RunConfiguration(toml: config, file: "config.toml").resolved(), seed: 1, worldSize: 1,
      code: CodeVersion(tandemVersion: "test"), environment: environment))
    let features = try DatasetReader(path: dataset).sampleShape[0]
    let model = try Model.reference(.churnLogreg, features: features, seed: 3)
    let parameters = folder + "/run/model.h5"
    try ParameterFile.write(model.parameters, to: parameters, attributes: ["model": "churn-logreg"])
    let hash = try parametersSHA256(file: parameters)
    let stored = try store.storeModel(at: parameters, parametersSHA256: hash)
    version = ModelVersion(
      name: "churn", version: 1, runID: "run", snapshotID: snapshot, parametersSHA256: hash, parametersFile: stored,
      runDirectory: folder + "/run", threshold: 0.5, thresholdPolicy: "fixed at 0.5",
      metrics: GatedMetrics(split: .test, accuracy: 0.8, recall: 0.7, precision: 0.6, f1: 0.65, rocAUC: 0.85, falseNegatives: 3),
      gates: QualityGates())
    var rows = "id,tenure,plan\n"
    for row in 0..<11 { rows += "n\(row),\(row * 3 % 17),\(["max", "basic", "plus"][row % 3])\n" }
    rows += "absurd,1e9,basic\n"      // far outside training: must go to a person
    rows += "broken,soon,plus\n"      // not a number: fails alone
    csv = folder + "/new.csv"
    try rows.write(toFile: csv, atomically: true, encoding: .utf8)
  }

  /// The same samples scored on `ranks` ranks (each opening its own scorer, as MPI ranks do).
  func predict(ranks: Int) throws -> BatchPrediction {
    let (store, version, csv) = (self.store, self.version, self.csv)
    return try LocalWorld.run(worldSize: ranks) { comm in
      let scorer = try Scorer(store: store, version: version)
      return try BatchPrediction(scorer: scorer, samples: try scorer.list(csv), over: comm)
    }[0]
  }
}

@Suite struct BatchPredictionTests {
  let fixture: ScoringFixture
  init() throws { fixture = try ScoringFixture() }

  @Test func oneAndThreeRanksGiveTheSameOutcomesBitForBitInInputOrder() throws {
    let one = try fixture.predict(ranks: 1), three = try fixture.predict(ranks: 3)
    #expect(one.outcomes == three.outcomes)
    #expect(one.samples.map(\.id) == (0..<11).map { "n\($0)" } + ["absurd", "broken"])
    #expect(three.samples.map(\.id) == one.samples.map(\.id))
  }

  @Test func aBadRowFailsAloneAndAnAbsurdOneGoesToAPerson() throws {
    let batch = try fixture.predict(ranks: 2)
    #expect(batch.failures.map(\.id) == ["broken"])
    #expect(batch.failures.first?.reason.contains("tenure") == true, "\(batch.failures)")
    let predictions = batch.predictions(reviewBand: 0, at: Date(timeIntervalSince1970: 0), user: "tester")
    #expect(predictions.count == 12)
    let absurd = try #require(predictions.first { $0.record.id == "absurd" })
    #expect(absurd.outOfRange && absurd.record.needsReview)
    #expect(predictions.filter { $0.record.id != "absurd" }.allSatisfy { !$0.outOfRange && !$0.record.needsReview })
    for p in predictions {
      #expect(Float(bitPattern: p.record.probabilityBits) == Float(p.record.probability))
      #expect(p.record.label == (p.record.probability >= 0.5 ? "Yes" : "No"))
    }
  }

  @Test func csvOutputsQuoteWhatNeedsQuoting() throws {
    let batch = try fixture.predict(ranks: 1)
    let records = batch.predictions(reviewBand: 0.1).map(\.record)
    let lines = BatchPrediction.csv(records).split(separator: "\n")
    #expect(lines.first == "id,probability,label,threshold,needs_review" && lines.count == 13)
    #expect(batch.errorsCSV.hasPrefix("id,error\nbroken,"))
  }
}

@Suite struct AuditLogTests {
  let fixture: ScoringFixture
  init() throws { fixture = try ScoringFixture() }

  func records() throws -> [PredictionRecord] {
    try fixture.predict(ranks: 1).predictions(reviewBand: 0, at: Date(timeIntervalSince1970: 1_750_000_000), user: "tester")
      .map(\.record)
  }

  @Test func appendedRecordsReadBackEqual() throws {
    let log = AuditLog(store: fixture.store, model: "churn")
    let written = try records()
    #expect(try log.append(Array(written.prefix(5))) == nil)
    try log.append(Array(written.dropFirst(5)))
    #expect(try log.records() == written)
  }

  /// A crash mid-append leaves a line without its newline: the next append
  /// moves it aside (LOG.torn-OFFSET) and starts on a line of its own.
  @Test func aTornLastLineIsSetAsideNotJoinedToTheNext() throws {
    let log = AuditLog(store: fixture.store, model: "churn")
    let written = try records()
    try log.append([written[0]])
    let intact = try Data(contentsOf: URL(fileURLWithPath: log.path)).count
    let handle = try #require(FileHandle(forWritingAtPath: log.path))
    try handle.seekToEnd()
    try handle.write(contentsOf: Data(#"{"model":"churn","vers"#.utf8))
    try handle.close()
    let sidecar = try #require(try log.append([written[1]]))
    #expect(sidecar == "\(log.path).torn-\(intact)")
    #expect(try String(contentsOfFile: sidecar, encoding: .utf8) == #"{"model":"churn","vers"#)
    #expect(try log.records() == [written[0], written[1]])
  }

  @Test func aDamagedLineIsAnErrorNamingIt() throws {
    let log = AuditLog(store: fixture.store, model: "churn")
    try log.append(Array(try records().prefix(2)))
    var text = try String(contentsOfFile: log.path, encoding: .utf8)
    text = text.replacingOccurrences(of: "\"model\":\"churn\"", with: "\"model\":7")
    try text.write(toFile: log.path, atomically: true, encoding: .utf8)
    let error = try #require(throws: DataError.self) { try log.records() }
    #expect(error.description.hasPrefix("\(log.path): line 1 is not a prediction record"), "\(error)")
  }

  /// Outcomes known later join the log by id, each at its own threshold.
  @Test func liveMetricsJoinDelayedLabelsById() throws {
    let log = AuditLog(store: fixture.store, model: "churn")
    let written = try records()
    try log.append(written)
    // Label each scored id with its own prediction, except the first two, flipped.
    var labels = "id,label\n"
    for (k, r) in written.enumerated() { labels += "\(r.id),\((r.probability >= r.threshold) != (k < 2) ? "Yes" : "No")\n" }
    labels += "unknown-id,Yes\n"
    try labels.write(toFile: fixture.folder + "/labels.csv", atomically: true, encoding: .utf8)
    let live = try LiveFromAudit.metrics(log: log, version: fixture.version, labels: fixture.folder + "/labels.csv",
                                         classNames: ["No", "Yes"])
    #expect(live.count == written.count)
    #expect(abs(live.accuracy - Double(written.count - 2) / Double(written.count)) < 1e-12)

    try "id,label\nnobody,Yes\n".write(toFile: fixture.folder + "/none.csv", atomically: true, encoding: .utf8)
    #expect(throws: DataError.self) {
      try LiveFromAudit.metrics(log: log, version: fixture.version, labels: fixture.folder + "/none.csv", classNames: ["No", "Yes"])
    }
  }
}
