/// Scalars that collectives can carry.
public protocol CollectiveScalar: Sendable, Numeric, Comparable {
  /// Whether sums of this type are exact, so any grouping of them gives the
  /// same bits (integers, whose additions wrap as MPI's do).
  static var sumIsExact: Bool { get }
  /// `a + b`, wrapping for integers.
  static func collectiveSum(_ a: Self, _ b: Self) -> Self
}
extension Float: CollectiveScalar {
  public static var sumIsExact: Bool { false }
  @inlinable public static func collectiveSum(_ a: Float, _ b: Float) -> Float { a + b }
}
extension Double: CollectiveScalar {
  public static var sumIsExact: Bool { false }
  @inlinable public static func collectiveSum(_ a: Double, _ b: Double) -> Double { a + b }
}
extension Int64: CollectiveScalar {
  public static var sumIsExact: Bool { true }
  @inlinable public static func collectiveSum(_ a: Int64, _ b: Int64) -> Int64 { a &+ b }
}
extension UInt8: CollectiveScalar {
  public static var sumIsExact: Bool { true }
  @inlinable public static func collectiveSum(_ a: UInt8, _ b: UInt8) -> UInt8 { a &+ b }
}

public enum ReduceOperation: Sendable { case sum, max, min }

/// The collectives training needs, independent of the transport: MPI in
/// production (`TandemMPI`), threads in tests (`LocalWorld`).
///
/// Every rank must issue the same collectives in the same order with the same
/// sizes; a mismatch is a bug and traps where the transport can see it.
public protocol Communicator: AnyObject {
  var rank: Int { get }
  var worldSize: Int { get }
  /// Replaces `buffer` on every rank by the elementwise reduction over ranks.
  func allreduce<T: CollectiveScalar>(_ buffer: inout [T], _ operation: ReduceOperation) throws
  /// Replaces `buffer` on every rank by root's. Sizes must agree.
  func broadcast<T: CollectiveScalar>(_ buffer: inout [T], root: Int) throws
  /// Root holds one part per rank (`parts[r]` for rank r; others pass `[]`);
  /// every rank receives its part, whose size `count` it knows in advance.
  func scatter<T: CollectiveScalar>(_ parts: [[T]], count: Int, root: Int) throws -> [T]
  func barrier() throws
}

extension Communicator {
  public var isCoordinator: Bool { rank == 0 }

  /// Broadcasts a byte string of any length from `root`.
  public func broadcast(bytes: [UInt8], root: Int) throws -> [UInt8] {
    var length: [Int64] = [Int64(bytes.count)]
    try broadcast(&length, root: root)
    var buffer = rank == root ? bytes : [UInt8](repeating: 0, count: Int(length[0]))
    try broadcast(&buffer, root: root)
    return buffer
  }
}

/// Failures of a collective that are not programming errors.
public enum CommunicatorError: Error, CustomStringConvertible, Equatable {
  case peerFailed(rank: Int, String)
  case timedOut(operation: String, seconds: Double, missing: [Int])

  public var description: String {
    switch self {
    case .peerFailed(let rank, let why): return "rank \(rank) failed: \(why)"
    case .timedOut(let op, let seconds, let missing):
      return "\(op) stalled for \(seconds) s waiting for rank(s) \(missing.map(String.init).joined(separator: ", "))"
    }
  }
}
