import TandemNN

/// Reduces all parameter gradients with one collective: gradients are packed
/// into one contiguous buffer in the model's fixed parameter order, reduced,
/// and unpacked. Every rank packs the same layout, so sizes always agree.
public struct GradientFusion {
  private var buffer: [Float] = []

  public init() {}

  /// Sums gradients over ranks. With each rank's loss normalised by the global
  /// batch size (see `Loss`), the sum is the global batch's gradient.
  public mutating func sumGradients(of parameters: [Parameter], over communicator: some Communicator) throws {
    pack(parameters)
    try communicator.allreduce(&buffer, .sum)
    unpack(into: parameters, scale: 1)
  }

  /// Averages gradients over ranks (each rank's loss was its local mean).
  public mutating func averageGradients(of parameters: [Parameter], over communicator: some Communicator) throws {
    pack(parameters)
    try communicator.allreduce(&buffer, .sum)
    unpack(into: parameters, scale: 1 / Float(communicator.worldSize))
  }

  private mutating func pack(_ parameters: [Parameter]) {
    let total = parameters.reduce(0) { $0 + $1.count }
    if buffer.count != total { buffer = [Float](repeating: 0, count: total) }
    buffer.withUnsafeMutableBufferPointer { out in
      var offset = 0
      for p in parameters {
        p.gradient.withUnsafeBufferPointer { g in
          (out.baseAddress! + offset).update(from: g.baseAddress!, count: g.count)
        }
        offset += p.count
      }
    }
  }

  private func unpack(into parameters: [Parameter], scale: Float) {
    buffer.withUnsafeBufferPointer { src in
      var offset = 0
      for p in parameters {
        p.gradient.withUnsafeMutableBufferPointer { g in
          for i in 0..<g.count { g[i] = src[offset + i] * scale }
        }
        offset += p.count
      }
    }
  }
}
