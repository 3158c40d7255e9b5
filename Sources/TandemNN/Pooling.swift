import TandemTensor

/// 2x2 max pooling, stride 2: `[batch, channels, h, w]` → `[batch, channels, h/2, w/2]`.
public final class MaxPool2D: Layer {
  public let name: String
  /// Whether the layer before is a ReLU whose backward mask this layer's
  /// backward applies (`Model` sets it, and tells that layer to skip its own):
  /// the same gradient bits, without a pass over that layer's whole output.
  public internal(set) var appliesReLUMask = false
  private var inputShape: [Int] = []
  private var argmax: [UInt8] = []
  private var output = Tensor(zeros: [0])
  public var activationPattern: [UInt8] { argmax }

  public init(name: String = "pool") { self.name = name }

  public func outputShape(forSample s: [Int]) -> [Int] {
    invariant(s.count == 3 && s[1] >= 2 && s[2] >= 2, "\(name) expects [channels, h>=2, w>=2], got \(s)")
    return [s[0], s[1] / 2, s[2] / 2]
  }

  public func forward(_ x: Tensor) -> Tensor {
    invariant(x.rank == 4, "\(name) expects [batch, channels, height, width], got \(x.shape)")
    inputShape = x.shape
    let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
    let outCount = planes * (h / 2) * (w / 2)
    if argmax.count != outCount { argmax = [UInt8](repeating: 0, count: outCount) }
    let y = Tensor(uninitializedShape: [x.shape[0], x.shape[1], h / 2, w / 2]) { y in
      x.withUnsafeBufferPointer { xs in
        argmax.withUnsafeMutableBufferPointer { a in
          Kernels.maxPool2x2(xs.baseAddress!, planes: planes, height: h, width: w,
                             y.baseAddress!, argmax: a.baseAddress!)
        }
      }
    }
    if appliesReLUMask { output = y }
    return y
  }

  public func backward(_ dy: Tensor) -> Tensor {
    let planes = inputShape[0] * inputShape[1], h = inputShape[2], w = inputShape[3]
    invariant(dy.shape == [inputShape[0], inputShape[1], h / 2, w / 2],
                 "\(name) backward: gradient \(dy.shape) for input \(inputShape)")
    return Tensor(uninitializedShape: inputShape) { dx in
      dy.withUnsafeBufferPointer { g in
        argmax.withUnsafeBufferPointer { a in
          output.withUnsafeBufferPointer { y in
            Kernels.maxPool2x2Backward(g.baseAddress!, argmax: a.baseAddress!,
                                       reluMask: appliesReLUMask ? y.baseAddress! : nil,
                                       planes: planes, height: h, width: w, dx.baseAddress!)
          }
        }
      }
    }
  }
}

/// Global average pooling: `[batch, channels, h, w]` → `[batch, channels]`.
public final class GlobalAveragePool: Layer {
  public let name: String
  private var inputShape: [Int] = []

  public init(name: String = "gap") { self.name = name }

  public func outputShape(forSample s: [Int]) -> [Int] {
    invariant(s.count == 3, "\(name) expects [channels, h, w], got \(s)")
    return [s[0]]
  }

  public func forward(_ x: Tensor) -> Tensor {
    invariant(x.rank == 4, "\(name) expects [batch, channels, height, width], got \(x.shape)")
    inputShape = x.shape
    let planes = x.shape[0] * x.shape[1], area = x.shape[2] * x.shape[3]
    let scale = 1 / Float(area)
    return Tensor(uninitializedShape: [x.shape[0], x.shape[1]]) { y in
      x.withUnsafeBufferPointer { xs in
        for p in 0..<planes { y[p] = Kernels.sum(xs.baseAddress! + p * area, count: area) * scale }
      }
    }
  }

  public func backward(_ dy: Tensor) -> Tensor {
    invariant(dy.shape == [inputShape[0], inputShape[1]],
                 "\(name) backward: gradient \(dy.shape) for input \(inputShape)")
    let planes = inputShape[0] * inputShape[1], area = inputShape[2] * inputShape[3]
    let scale = 1 / Float(area)
    return Tensor(uninitializedShape: inputShape) { dx in
      dy.withUnsafeBufferPointer { g in
        for p in 0..<planes {
          (dx.baseAddress! + p * area).update(repeating: g[p] * scale, count: area)
        }
      }
    }
  }
}
