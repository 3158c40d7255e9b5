import Foundation
import TandemTensor

/// A loss over a batch of logits and integer class labels.
///
/// The loss is `Σ_i weight[label_i] · ℓ_i / normalizer`. With the default
/// normalizer (the batch size) and unit weights it is the batch mean. Passing
/// the *global* batch size lets each worker compute its share so that summing
/// the workers' losses and gradients gives exactly the global batch's.
public protocol Loss: Sendable {
  /// Logits per sample this loss expects (`classes` for softmax, 1 for sigmoid).
  func logitCount(classes: Int) -> Int
  /// Loss (accumulated in Float64) and dL/d(logits).
  func evaluate(logits: Tensor, labels: [Int32], normalizer: Int?) -> (loss: Double, gradient: Tensor)
  /// Class probabilities `[batch, classes]` for logits.
  func probabilities(logits: Tensor, classes: Int) -> Tensor
}

/// Softmax cross-entropy over `[batch, classes]` logits, optionally class-weighted.
public struct SoftmaxCrossEntropy: Loss {
  public var classWeights: [Float]?

  public init(classWeights: [Float]? = nil) { self.classWeights = classWeights }

  public func logitCount(classes: Int) -> Int { classes }

  public func evaluate(logits: Tensor, labels: [Int32], normalizer: Int?) -> (loss: Double, gradient: Tensor) {
    invariant(logits.rank == 2 && logits.shape[0] == labels.count,
                 "softmax cross-entropy: logits \(logits.shape) for \(labels.count) labels")
    let batch = logits.shape[0], classes = logits.shape[1]
    let scale = 1 / Double(normalizer ?? batch)
    var total = 0.0
    var grad = softmax(logits)
    grad.withUnsafeMutableBufferPointer { g in
      logits.withUnsafeBufferPointer { z in
        for i in 0..<batch {
          let y = Int(labels[i])
          invariant(y >= 0 && y < classes, "label \(y) outside 0..<\(classes) at row \(i)")
          let w = Double(classWeights?[y] ?? 1)
          let row = z.baseAddress! + i * classes
          var m = row[0]
          for c in 1..<max(classes, 1) { m = max(m, row[c]) }
          var s = 0.0
          for c in 0..<classes { s += Double(Kernels.exp(row[c] - m)) }
          total += w * (PortableMath.log(s) - Double(row[y] - m))
          let gs = Float(w * scale)
          for c in 0..<classes {
            g[i * classes + c] = (g[i * classes + c] - (c == y ? 1 : 0)) * gs
          }
        }
      }
    }
    return (total * scale, grad)
  }

  public func probabilities(logits: Tensor, classes: Int) -> Tensor { softmax(logits) }

  private func softmax(_ logits: Tensor) -> Tensor {
    let batch = logits.shape[0], classes = logits.shape[1]
    return Tensor(uninitializedShape: logits.shape) { p in
      logits.withUnsafeBufferPointer { z in
        for i in 0..<batch {
          let row = z.baseAddress! + i * classes, out = p.baseAddress! + i * classes
          var m = row[0]
          for c in 1..<max(classes, 1) { m = max(m, row[c]) }
          var s: Float = 0
          for c in 0..<classes { out[c] = Kernels.exp(row[c] - m); s += out[c] }
          for c in 0..<classes { out[c] /= s }
        }
      }
    }
  }
}

/// Binary cross-entropy on one logit per sample (`[batch, 1]`), labels 0 or 1:
/// `ℓ = softplus(z) − y·z`, computed stably; `dℓ/dz = σ(z) − y`.
public struct SigmoidBinaryCrossEntropy: Loss {
  /// Optional weights for the negative and positive class.
  public var classWeights: [Float]?

  public init(classWeights: [Float]? = nil) { self.classWeights = classWeights }

  public func logitCount(classes: Int) -> Int { 1 }

  public func evaluate(logits: Tensor, labels: [Int32], normalizer: Int?) -> (loss: Double, gradient: Tensor) {
    invariant(logits.shape == [labels.count, 1],
                 "sigmoid cross-entropy: logits \(logits.shape) for \(labels.count) labels")
    let batch = labels.count
    let scale = 1 / Double(normalizer ?? batch)
    var total = 0.0
    let grad = Tensor(uninitializedShape: logits.shape) { g in
      logits.scalars.withUnsafeBufferPointer { z in
        // e^(−|z|) and log(1 + e^(−|z|)) eight samples at a time (the same
        // bits as one at a time); e^(−|z|) is also the exp `Kernels.sigmoid`
        // takes on either side of 0, so it is computed once.
        var decay = SIMD8<Double>(), softplusTail = SIMD8<Double>()
        for i in 0..<batch {
          let lane = i % 8
          if lane == 0 {
            var lanes = SIMD8<Double>()
            for l in 0..<min(8, batch - i) { lanes[l] = -abs(Double(z[i + l])) }
            decay = PortableMath.exp(lanes)
            softplusTail = PortableMath.log(1 + decay)
          }
          let y = labels[i]
          invariant(y == 0 || y == 1, "binary label must be 0 or 1, got \(y) at row \(i)")
          let x = z[i], zd = Double(x)
          let w = Double(classWeights?[Int(y)] ?? 1)
          // softplus(z) = max(z, 0) + log1p(exp(-|z|))
          total += w * (max(zd, 0) + softplusTail[lane] - Double(y) * zd)
          let e = Float(decay[lane])
          let sigmoid = x >= 0 ? 1 / (1 + e) : e / (1 + e)
          g[i] = Float(w * scale) * (sigmoid - Float(y))
        }
      }
    }
    return (total * scale, grad)
  }

  public func probabilities(logits: Tensor, classes: Int) -> Tensor {
    let batch = logits.shape[0]
    return Tensor(uninitializedShape: [batch, 2]) { p in
      for i in 0..<batch {
        let q = Kernels.sigmoid(logits.scalars[i])
        p[2 * i] = 1 - q
        p[2 * i + 1] = q
      }
    }
  }
}
