import TandemTensor

/// Group normalisation (Wu and He, 2018): each sample's channels are cut into
/// `groups` groups, each standardised over its channels and pixels, then
/// scaled and shifted per channel (`name.scale`, starting at 1, and
/// `name.shift`, starting at 0). `[batch, channels, h, w]` in and out.
///
/// Unlike batch normalisation it has no batch statistics, so a sample's
/// output depends on that sample only: the same on any number of ranks and
/// micro-batches, in training and in scoring alike. One group is layer
/// normalisation; as the first layer it also makes a model indifferent to an
/// image's overall brightness and contrast. Sums are taken in Float64 in a
/// fixed order, so the bits do not depend on the machine.
public final class GroupNorm: Layer {
  public let name: String
  public let channels: Int
  public let groups: Int
  public let epsilon: Float = 1e-5
  public let scale: Parameter
  public let shift: Parameter
  public var parameters: [Parameter] { [scale, shift] }
  private var normalised = Tensor(zeros: [0])
  private var inverseStd: [Float] = []

  public init(name: String, channels: Int, groups: Int) {
    invariant(groups > 0 && channels % groups == 0, "\(name): \(channels) channels do not split into \(groups) groups")
    self.name = name
    self.channels = channels
    self.groups = groups
    scale = Parameter(name: "\(name).scale", value: Tensor(uncheckedShape: [channels], scalars: [Float](repeating: 1, count: channels)))
    shift = Parameter(name: "\(name).shift", value: Tensor(zeros: [channels]))
  }

  public func outputShape(forSample s: [Int]) -> [Int] {
    invariant(s.count == 3 && s[0] == channels, "\(name) expects [\(channels), h, w], got \(s)")
    return s
  }

  public func forward(_ x: Tensor) -> Tensor {
    invariant(x.rank == 4 && x.shape[1] == channels, "\(name) expects [batch, \(channels), h, w], got \(x.shape)")
    let batch = x.shape[0], area = x.shape[2] * x.shape[3]
    let perGroup = channels / groups, size = perGroup * area, count = batch * groups
    inverseStd = [Float](repeating: 0, count: count)
    var means = [Double](repeating: 0, count: count), squares = [Double](repeating: 0, count: count)
    var y = Tensor(uninitializedShape: x.shape) { _ in }
    normalised = Tensor(uninitializedShape: x.shape) { xhat in
      x.withUnsafeBufferPointer { xs in
        Kernels.chainedSums(xs.baseAddress!, stride: size, streams: count, count: size, into: &means)
        for ng in 0..<count { means[ng] /= Double(size) }
        Kernels.chainedCenteredSquares(xs.baseAddress!, stride: size, streams: count, count: size,
                                       means: means, into: &squares)
        scale.value.withUnsafeBufferPointer { g in
          shift.value.withUnsafeBufferPointer { b in
            y.withUnsafeMutableBufferPointer { ys in
              for ng in 0..<count {
                let r = Float(1 / (squares[ng] / Double(size) + Double(epsilon)).squareRoot())
                inverseStd[ng] = r
                let m = Float(means[ng])
                for j in 0..<perGroup {
                  let c = (ng % groups) * perGroup + j, base = ng * size + j * area, gc = g[c], bc = b[c]
                  for k in base..<base + area {
                    let v = (xs[k] - m) * r
                    xhat[k] = v
                    ys[k] = v * gc + bc
                  }
                }
              }
            }
          }
        }
      }
    }
    return y
  }

  /// With x̂ the standardised input and d = dy·γ:
  /// dx = σ⁻¹ (d − mean(d) − x̂ · mean(d · x̂)) per group.
  public func backward(_ dy: Tensor) -> Tensor {
    invariant(dy.shape == normalised.shape, "\(name) backward: gradient \(dy.shape) vs output \(normalised.shape)")
    let batch = dy.shape[0], area = dy.shape[2] * dy.shape[3]
    let perGroup = channels / groups, size = perGroup * area
    return Tensor(uninitializedShape: dy.shape) { dx in
      dy.withUnsafeBufferPointer { g in
        normalised.withUnsafeBufferPointer { xhat in
          scale.value.withUnsafeBufferPointer { gamma in
            scale.gradient.withUnsafeMutableBufferPointer { dGamma in
              shift.gradient.withUnsafeMutableBufferPointer { dBeta in
                // Per channel: Σdy (dβ) and Σdy·x̂ (dγ); a group's Σd and Σd·x̂ are their γ-weighted sums.
                var sums = [Double](repeating: 0, count: batch * channels)
                var productSums = [Double](repeating: 0, count: batch * channels)
                Kernels.chainedSumsAndProducts(g.baseAddress!, xhat.baseAddress!, stride: area, streams: batch * channels,
                                               count: area, sums: &sums, productSums: &productSums)
                for n in 0..<batch {
                  for c in 0..<channels {
                    dBeta[c] += Float(sums[n * channels + c])
                    dGamma[c] += Float(productSums[n * channels + c])
                  }
                  for group in 0..<groups {
                    let channelsOfGroup = group * perGroup..<(group + 1) * perGroup
                    var sd = 0.0, sdx = 0.0
                    for c in channelsOfGroup {
                      sd += Double(gamma[c]) * sums[n * channels + c]
                      sdx += Double(gamma[c]) * productSums[n * channels + c]
                    }
                    let meanD = Float(sd / Double(size)), meanDX = Float(sdx / Double(size))
                    let r = inverseStd[n * groups + group]
                    for c in channelsOfGroup {
                      let offset = (n * channels + c) * area, gc = gamma[c]
                      for k in 0..<area { dx[offset + k] = r * (g[offset + k] * gc - meanD - xhat[offset + k] * meanDX) }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}
