import Foundation
import TandemData
import TandemDistributed
import TandemStore

/// `tandem predict` over many samples: sharded across ranks, each rank
/// preparing and scoring a contiguous share, then every rank's outcomes sent
/// to all, so that each holds every sample's outcome in input order.
public struct BatchPrediction: Sendable {
  /// What became of one sample.
  public enum Outcome: Codable, Sendable, Equatable {
    /// Scored: the probability's float32 bits, the input's hash, and whether
    /// the input lies far outside the training data (a person must look).
    case scored(probabilityBits: UInt32, inputSHA256: String, outOfRange: Bool)
    /// Not scored, and why.
    case failed(String)
  }

  public let version: ModelVersion
  public let classNames: [String]
  public let samples: [(id: String, source: SampleSource)]
  public let outcomes: [Outcome]

  public init(scorer: Scorer, samples: [(id: String, source: SampleSource)], over communicator: any Communicator) throws {
    let n = samples.count, rank = communicator.rank, size = communicator.worldSize
    let share = samples[rank * n / size..<(rank + 1) * n / size]
    let prepared = try communicator.agree { try scorer.prepare(share) }
    let inputs = prepared.compactMap { item in if case .success(let input) = item.input { input } else { nil } }
    let scores = try communicator.agree { try scorer.scores(inputs.flatMap { $0 }, count: inputs.count) }
    var next = scores.makeIterator()
    let local: [Outcome] = prepared.map { item in
      switch item.input {
      case .success(let input):
        return .scored(probabilityBits: next.next()!.bitPattern, inputSHA256: Scorer.inputHash(input[...]),
                       outOfRange: scorer.isOutOfRange(input))
      case .failure(let error):
        return .failed(error.message)
      }
    }
    var all: [Outcome] = []
    all.reserveCapacity(n)
    for root in 0..<size {
      let bytes = try communicator.broadcast(bytes: root == rank ? Array(try JSONEncoder().encode(local)) : [], root: root)
      all += try JSONDecoder().decode([Outcome].self, from: Data(bytes))
    }
    version = scorer.version
    classNames = scorer.classNames
    self.samples = samples
    outcomes = all
  }

  /// The scored samples, with label and review flag (within `reviewBand` of
  /// the threshold, or out of range: a person must look), each with whether
  /// its input lies far outside the training data.
  public func predictions(reviewBand: Double, at time: Date = Date(), user: String = RunRecord.currentUser())
    -> [(record: PredictionRecord, outOfRange: Bool)] {
    zip(samples, outcomes).compactMap { sample, outcome in
      guard case .scored(let bits, let hash, let outOfRange) = outcome else { return nil }
      let p = Float(bitPattern: bits)
      return (PredictionRecord(
        model: version.name, version: version.version, snapshotID: version.snapshotID, parametersSHA256: version.parametersSHA256,
        id: sample.id, source: sample.source, inputSHA256: hash, probability: Double(p), probabilityBits: bits,
        label: Double(p) >= version.threshold ? classNames[1] : classNames[0], threshold: version.threshold,
        needsReview: outOfRange || abs(Double(p) - version.threshold) < reviewBand, time: time, user: user), outOfRange)
    }
  }

  /// The samples that could not be scored, with the reason.
  public var failures: [(id: String, reason: String)] {
    zip(samples, outcomes).compactMap { sample, outcome in
      guard case .failed(let reason) = outcome else { return nil }
      return (sample.id, reason)
    }
  }

  /// `preds.csv`: a header, then `id,probability,label,threshold,needs_review` per scored sample, in input order.
  public static func csv(_ records: [PredictionRecord]) -> String {
    (["id,probability,label,threshold,needs_review"]
      + records.map { "\(csvField($0.id)),\(Float($0.probability)),\(csvField($0.label)),\($0.threshold),\($0.needsReview)" })
      .joined(separator: "\n") + "\n"
  }

  /// `preds.csv.errors`: `id,error` per sample not scored.
  public var errorsCSV: String {
    (["id,error"] + failures.map { "\(csvField($0.id)),\(csvField($0.reason))" }).joined(separator: "\n") + "\n"
  }
}
