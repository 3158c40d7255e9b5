/// A dense Float32 tensor stored row-major, shape outermost first
/// (`[batch, channels, height, width]` for images, `[batch, features]` for rows).
///
/// Storage is a Swift array, so copies are cheap until written. Public
/// initialisers validate what comes from outside and throw `TensorError`;
/// operations between tensors the library built itself check with
/// `precondition`, because a mismatch there is our bug.
public struct Tensor: Sendable, Equatable {
  public private(set) var shape: [Int]
  public var scalars: [Float]

  /// Wraps `scalars` as a tensor of `shape`, checking that the two agree.
  public init(shape: [Int], scalars: [Float]) throws(TensorError) {
    guard shape.allSatisfy({ $0 >= 0 }) else { throw .negativeDimension(shape) }
    let count = shape.reduce(1, *)
    guard count == scalars.count else {
      throw .scalarCountMismatch(shape: shape, expected: count, actual: scalars.count)
    }
    self.shape = shape
    self.scalars = scalars
  }

  /// For scalars the caller has already sized: traps with the values on mismatch.
  public init(uncheckedShape shape: [Int], scalars: [Float]) {
    invariant(shape.reduce(1, *) == scalars.count,
                 "Tensor shape \(shape) holds \(shape.reduce(1, *)) scalars, given \(scalars.count)")
    self.shape = shape
    self.scalars = scalars
  }

  public init(zeros shape: [Int]) {
    self.init(shape: shape, repeating: 0)
  }

  public init(shape: [Int], repeating value: Float) {
    invariant(shape.allSatisfy { $0 >= 0 }, "Tensor shape \(shape) has a negative dimension")
    self.shape = shape
    self.scalars = [Float](repeating: value, count: shape.reduce(1, *))
  }

  /// A tensor whose every scalar the caller writes through `body` before reading.
  /// Skips zero-filling, which matters for the large activations of a CNN.
  public init(uninitializedShape shape: [Int], _ body: (UnsafeMutableBufferPointer<Float>) -> Void) {
    let count = shape.reduce(1, *)
    self.shape = shape
    self.scalars = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
      body(buffer)
      initialized = count
    }
  }

  public var count: Int { scalars.count }
  public var rank: Int { shape.count }

  /// The same scalars viewed with another shape of equal size.
  public func reshaped(to newShape: [Int]) throws(TensorError) -> Tensor {
    try Tensor(shape: newShape, scalars: scalars)
  }

  /// Checks that the tensor has `expected` shape, where `nil` entries match any size.
  public func validateShape(_ expected: [Int?], _ what: @autoclosure () -> String) throws(TensorError) {
    guard shape.count == expected.count,
          zip(shape, expected).allSatisfy({ $1 == nil || $0 == $1 })
    else {
      throw .shapeMismatch(what(), expected: expected.map { $0.map(String.init) ?? "*" }, actual: shape)
    }
  }

  public subscript(flat index: Int) -> Float {
    get { scalars[index] }
    set { scalars[index] = newValue }
  }

  @inlinable
  public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    try scalars.withUnsafeBufferPointer(body)
  }

  @inlinable
  public mutating func withUnsafeMutableBufferPointer<R>(
    _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
  ) rethrows -> R {
    try scalars.withUnsafeMutableBufferPointer(body)
  }
}

/// Bad tensors handed to the public API.
public enum TensorError: Error, Equatable, CustomStringConvertible {
  case negativeDimension([Int])
  case scalarCountMismatch(shape: [Int], expected: Int, actual: Int)
  case shapeMismatch(String, expected: [String], actual: [Int])

  public var description: String {
    switch self {
    case .negativeDimension(let shape):
      return "tensor shape \(shape) has a negative dimension"
    case .scalarCountMismatch(let shape, let expected, let actual):
      return "tensor shape \(shape) needs \(expected) scalars, got \(actual)"
    case .shapeMismatch(let what, let expected, let actual):
      return "\(what): expected shape [\(expected.joined(separator: ", "))], got \(actual)"
    }
  }
}
