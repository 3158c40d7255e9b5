import Foundation
import TandemTensor

/// A world of `worldSize` ranks as threads of one process, for tests and for
/// single-process runs. Reductions combine contributions in rank order, so
/// results are deterministic.
public enum LocalWorld {
  /// Runs `body` once per rank on its own thread and returns the results by rank.
  /// If any rank throws, the others' pending and later collectives throw too,
  /// so no rank waits forever; the first error is rethrown.
  public static func run<R: Sendable>(
    worldSize: Int, timeout: Double = 60, _ body: @escaping @Sendable (LocalCommunicator) throws -> R
  ) throws -> [R] {
    invariant(worldSize > 0, "world size must be positive, got \(worldSize)")
    let hub = LocalHub(size: worldSize, timeout: timeout)
    let results = ResultBox<R>(count: worldSize)
    let group = DispatchGroup()
    for rank in 0..<worldSize {
      group.enter()
      let thread = Thread {
        do {
          results.set(rank, .success(try body(LocalCommunicator(rank: rank, hub: hub))))
        } catch {
          hub.fail(rank: rank, error)
          results.set(rank, .failure(error))
        }
        group.leave()
      }
      thread.stackSize = 16 << 20
      thread.start()
    }
    group.wait()
    return try results.values()
  }
}

public final class LocalCommunicator: Communicator {
  public let rank: Int
  public var worldSize: Int { hub.size }
  let hub: LocalHub

  init(rank: Int, hub: LocalHub) {
    self.rank = rank
    self.hub = hub
  }

  public func allreduce<T: CollectiveScalar>(_ buffer: inout [T], _ operation: ReduceOperation) throws {
    let mine = buffer
    buffer = try hub.exchange(rank: rank, value: mine, operation: "allreduce") { all in
      let parts = all.map { $0 as! [T] }
      invariant(parts.allSatisfy { $0.count == mine.count },
                   "allreduce sizes differ across ranks: \(parts.map(\.count))")
      var out = parts[0]
      for part in parts.dropFirst() {
        for i in out.indices {
          switch operation {
          case .sum: out[i] += part[i]
          case .max: out[i] = Swift.max(out[i], part[i])
          case .min: out[i] = Swift.min(out[i], part[i])
          }
        }
      }
      return out
    } as! [T]
  }

  public func broadcast<T: CollectiveScalar>(_ buffer: inout [T], root: Int) throws {
    invariant(root >= 0 && root < worldSize, "broadcast root \(root) outside 0..<\(worldSize)")
    let mine = buffer
    buffer = try hub.exchange(rank: rank, value: mine, operation: "broadcast") { all in
      let parts = all.map { $0 as! [T] }
      invariant(parts.allSatisfy { $0.count == parts[root].count },
                   "broadcast sizes differ across ranks: \(parts.map(\.count))")
      return parts[root]
    } as! [T]
  }

  public func scatter<T: CollectiveScalar>(_ parts: [[T]], count: Int, root: Int) throws -> [T] {
    invariant(root >= 0 && root < worldSize, "scatter root \(root) outside 0..<\(worldSize)")
    let all = try hub.exchange(rank: rank, value: parts, operation: "scatter") { all in all[root] } as! [[T]]
    invariant(all.count == worldSize, "scatter root gave \(all.count) parts for \(worldSize) ranks")
    invariant(all[rank].count == count, "scatter: rank \(rank) expected \(count) elements, root sent \(all[rank].count)")
    return all[rank]
  }

  public func barrier() throws {
    _ = try hub.exchange(rank: rank, value: 0, operation: "barrier") { _ in 0 }
  }
}

/// A reusable two-phase rendezvous: all ranks deposit, the last one combines,
/// all read, and only then may the next round begin.
final class LocalHub: @unchecked Sendable {
  let size: Int
  let timeout: Double
  private let condition = NSCondition()
  private var slots: [Any?]
  private var arrived = 0, departed = 0
  private var round = 0, drained = 0
  private var result: Any = 0
  private var failure: (rank: Int, message: String)?

  init(size: Int, timeout: Double) {
    self.size = size
    self.timeout = timeout
    slots = Array(repeating: nil, count: size)
  }

  func fail(rank: Int, _ error: any Error) {
    condition.lock()
    if failure == nil { failure = (rank, "\(error)") }
    condition.broadcast()
    condition.unlock()
  }

  func exchange(rank: Int, value: Any, operation: String, combine: ([Any]) -> Any) throws -> Any {
    condition.lock()
    defer { condition.unlock() }
    let deadline = Date(timeIntervalSinceNow: timeout)
    // Wait until the previous round has been read by everyone.
    while arrived == size {
      try wait(until: deadline, operation: operation)
    }
    slots[rank] = value
    arrived += 1
    let myRound = round
    if arrived == size {
      result = combine(slots.map { $0! })
      round += 1
      condition.broadcast()
    } else {
      while round == myRound {
        try wait(until: deadline, operation: operation)
      }
    }
    let value = result
    departed += 1
    if departed == size {
      arrived = 0
      departed = 0
      slots = Array(repeating: nil, count: size)
      drained += 1
      condition.broadcast()
    }
    return value
  }

  private func wait(until deadline: Date, operation: String) throws {
    if let failure { throw CommunicatorError.peerFailed(rank: failure.rank, failure.message) }
    if !condition.wait(until: deadline) {
      if let failure { throw CommunicatorError.peerFailed(rank: failure.rank, failure.message) }
      let missing = slots.indices.filter { slots[$0] == nil }
      failure = (missing.first ?? -1, "\(operation) timed out")
      condition.broadcast()
      throw CommunicatorError.timedOut(operation: operation, seconds: timeout, missing: missing)
    }
    if let failure { throw CommunicatorError.peerFailed(rank: failure.rank, failure.message) }
  }
}

private final class ResultBox<R>: @unchecked Sendable {
  private let lock = NSLock()
  private var slots: [Result<R, any Error>?]

  init(count: Int) { slots = Array(repeating: nil, count: count) }

  func set(_ rank: Int, _ value: Result<R, any Error>) {
    lock.lock(); slots[rank] = value; lock.unlock()
  }

  func values() throws -> [R] {
    lock.lock(); defer { lock.unlock() }
    // Prefer the error of the rank that failed first-hand over peers' "peer failed".
    let failures = slots.compactMap { slot -> (any Error)? in
      if case .failure(let e)? = slot { return e } else { return nil }
    }
    if let original = failures.first(where: { !($0 is CommunicatorError) }) ?? failures.first { throw original }
    // No failures: every slot holds a success.
    return try slots.map { try $0!.get() }
  }
}
