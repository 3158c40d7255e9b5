import TandemTensor

/// A failure that every rank knows about, raised by `Communicator.agree`.
/// Rank 0 reports it once; every rank then exits without aborting the job.
public struct AgreedFailure: Error, CustomStringConvertible {
  /// The lowest rank on which the step failed.
  public let rank: Int
  public let message: String
  /// True when rank 0 failed too (a bad config fails everywhere alike).
  public let coordinatorFailed: Bool
  /// The process's exit status: the failing error's own (`DistinctExitStatus`), else 1.
  public var exitStatus: Int32 = 1

  public var description: String { coordinatorFailed ? message : "rank \(rank): \(message)" }
}

extension Communicator {
  /// Runs `body` on every rank. If it throws on any rank, every rank throws
  /// `AgreedFailure` with the message of the lowest failing rank, so that
  /// rank 0 can report it once and all ranks stop together.
  public func agree<T>(_ body: () throws -> T) throws -> T {
    let result = Result { try body() }
    var failedRank: [Int64] = [{ if case .failure = result { return Int64(rank) } else { return Int64.max } }()]
    try allreduce(&failedRank, .min)
    guard failedRank[0] != Int64.max else { return try result.get() }
    let root = Int(failedRank[0])
    // The exit status travels as the message's first byte.
    var text: [UInt8] = []
    if case .failure(let error) = result, rank == root {
      text = [UInt8(clamping: (error as? DistinctExitStatus)?.exitStatus ?? 1)] + Array(ErrorText.line(error).utf8)
    }
    let message = try broadcast(bytes: text, root: root)
    var failure = AgreedFailure(rank: root, message: String(decoding: message.dropFirst(), as: UTF8.self), coordinatorFailed: root == 0)
    failure.exitStatus = Int32(message.first ?? 1)
    throw failure
  }
}
