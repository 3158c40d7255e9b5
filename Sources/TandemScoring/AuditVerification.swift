import Foundation
import TandemData
import TandemStore
import TandemTensor

/// `tandem audit verify`: a sample of a model's logged predictions scored
/// again from their sources. Each must find the version's stored parameters
/// unchanged, its input hashing to the logged hash and its output equal to
/// the logged one bit for bit.
public struct AuditVerification: Sendable {
  /// Records checked, and of them, those that reproduced.
  public var sampled: Int
  public var logged: Int
  /// One line per record that did not reproduce.
  public var failures: [String] = []
  /// Records made with numerics this machine cannot compute (not failures of the record).
  public var unreproducible: [String] = []
  public var reproduced: Int { sampled - failures.count - unreproducible.count }

  /// Checks `sample` records chosen with `seed` (all of them when `sample` is 0 or larger than the log).
  public init(store: Store, model: String, sample: Int, seed: UInt64) throws {
    let log = AuditLog(store: store, model: model)
    let records = try log.records()
    var chosen = Array(records.indices)
    if sample > 0 && sample < chosen.count {
      var rng = SeededGenerator(seed: seed)
      chosen.shuffle(using: &rng)
      chosen = Array(chosen.prefix(sample)).sorted()
    }
    sampled = chosen.count
    logged = records.count
    var scorers: [Int: Scorer] = [:]
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
            failures.append("\(what): the registry's parameters for this version are not those the prediction used")
            continue
          }
          scorers[record.version] = try Scorer(store: store, version: version)
        }
        let scorer = scorers[record.version]!
        let input = try scorer.prepare([(record.id, record.source)][...])[0].input.get()
        guard Scorer.inputHash(input[...]) == record.inputSHA256 else {
          failures.append("\(what): the input at \(record.source.path) changed since it was scored")
          continue
        }
        let score = try scorer.scores(input, count: 1)[0]
        if score.bitPattern != record.probabilityBits {
          failures.append("\(what): output \(score) differs from the logged \(record.probability)")
        }
      } catch {
        failures.append("\(what): \(error)")
      }
    }
  }
}
