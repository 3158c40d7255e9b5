import TandemTensor

/// A 2-D convolution (cross-correlation, as in every DL framework) by im2col + gemm.
///
/// Input `[batch, inChannels, height, width]`, output
/// `[batch, outChannels, outHeight, outWidth]`. Weight `[outChannels, inChannels,
/// kernel, kernel]`, read as the matrix `[outChannels, inChannels·kernel²]`;
/// bias `[outChannels]`. Per image: `out = W · im2col(x) + b`.
/// Backward: `dW += dY · colsᵀ`, `db += Σ dY`, `dx = col2im(Wᵀ · dY)`; the columns
/// are rebuilt in backward rather than kept, trading one cheap pass for
/// `batch × patch × pixels` floats of memory.
///
/// The column matrix and the input gradient's columns are built one band of
/// output rows at a time, small enough to stay in a core's L2 while the
/// product reads it (conv2 of xray-cnn would otherwise write and read back
/// 2.4 MB per image). Each output element is still one chain over the patch,
/// each weight-gradient element one chain over the pixels in ascending order
/// (the product continues it band after band), and col2im adds the bands in
/// the order that keeps each pixel's sum, so the bits do not change. With the
/// pinned kernel the forward product, and the weight gradient where it runs
/// blocked or the patch is as small as conv1's, take the columns from the
/// image instead (`Gemm.multiplyColumns`): the same values, never written out.
///
/// With `activation: .relu` the ReLU is applied to each band of output while it
/// is still in cache, and its mask to each image's gradient in backward, which
/// saves two passes over the largest activations of a CNN (measured: a sixth
/// of an xray-cnn step when ReLU was a layer of its own).
public final class Conv2D: Layer {
  public enum Activation: Sendable { case identity, relu }

  public let name: String
  public let inChannels, outChannels, kernelSize, stride, padding: Int
  public let activation: Activation
  public let weight: Parameter
  public let bias: Parameter
  /// The first layer of a network needs no input gradient; skipping it saves a gemm and a col2im.
  public var computesInputGradient: Bool
  /// Set by `Model` when a max pooling follows and applies the ReLU's mask
  /// in its own backward (`MaxPool2D.appliesReLUMask`): the gradient arrives masked.
  public internal(set) var receivesMaskedGradient = false

  private var input = Tensor(zeros: [0])
  private var output = Tensor(zeros: [0])
  private var columns: [Float] = []
  private var inputGradientColumns: [Float] = []
  private var maskedGradient: [Float] = []

  /// Floats of one band of the column matrix: 512 KB.
  private static let bandFloats = 1 << 17

  /// The bands of output rows the column matrix is built in, top to bottom:
  /// the columns, and `outputRows` rows of output beside them, in 512 KB.
  private func bands(_ g: ConvolutionGeometry, outputRows: Int = 0) -> [Range<Int>] {
    let rows = max(1, min(g.outputHeight, Self.bandFloats / max(1, (g.patchSize + outputRows) * g.outputWidth)))
    return Swift.stride(from: 0, to: g.outputHeight, by: rows).map { $0..<min(g.outputHeight, $0 + rows) }
  }

  public var activationPattern: [UInt8] { activation == .relu ? output.scalars.map { $0 > 0 ? 1 : 0 } : [] }

  public init(name: String, inChannels: Int, outChannels: Int, kernelSize: Int = 3,
              stride: Int = 1, padding: Int = 1, activation: Activation = .identity,
              computesInputGradient: Bool = true) {
    invariant(inChannels > 0 && outChannels > 0 && kernelSize > 0 && stride > 0 && padding >= 0,
                 "Conv2D \(name): in=\(inChannels) out=\(outChannels) k=\(kernelSize) s=\(stride) p=\(padding)")
    self.name = name
    self.inChannels = inChannels; self.outChannels = outChannels
    self.kernelSize = kernelSize; self.stride = stride; self.padding = padding
    self.computesInputGradient = computesInputGradient
    self.activation = activation
    weight = Parameter(name: "\(name).weight", value: Tensor(zeros: [outChannels, inChannels, kernelSize, kernelSize]))
    bias = Parameter(name: "\(name).bias", value: Tensor(zeros: [outChannels]))
  }

  public var parameters: [Parameter] { [weight, bias] }

  public func outputShape(forSample s: [Int]) -> [Int] {
    let g = geometry(s)
    return [outChannels, g.outputHeight, g.outputWidth]
  }

  private func geometry(_ sample: [Int]) -> ConvolutionGeometry {
    invariant(sample.count == 3 && sample[0] == inChannels,
                 "\(name) expects [\(inChannels), height, width] per sample, got \(sample)")
    return ConvolutionGeometry(channels: inChannels, height: sample[1], width: sample[2],
                               kernelHeight: kernelSize, kernelWidth: kernelSize,
                               stride: stride, padding: padding)
  }

  public func forward(_ x: Tensor) -> Tensor {
    invariant(x.rank == 4, "\(name) expects [batch, channels, height, width], got \(x.shape)")
    let g = geometry(Array(x.shape.dropFirst()))
    // Bands small enough for their columns and their output to share L2,
    // where the bias and the ReLU find the output still in cache.
    let batch = x.shape[0], k = g.patchSize, p = g.outputPixels, ow = g.outputWidth, bands = bands(g, outputRows: outChannels)
    let inStride = inChannels * g.height * g.width, outStride = outChannels * p
    if columns.count < k * bands[0].count * ow { columns = [Float](repeating: 0, count: k * bands[0].count * ow) }
    input = x
    let relu = activation == .relu
    output = Tensor(uninitializedShape: [batch, outChannels, g.outputHeight, g.outputWidth]) { y in
      x.withUnsafeBufferPointer { xs in
        weight.value.withUnsafeBufferPointer { w in
          bias.value.withUnsafeBufferPointer { b in
            columns.withUnsafeMutableBufferPointer { cols in
              for n in 0..<batch {
                let out = y.baseAddress! + n * outStride
                for rows in bands {
                  let first = rows.lowerBound, pixels = rows.count * ow
                  if !Gemm.multiplyColumns(of: xs.baseAddress! + n * inStride, g, outputRows: rows, m: outChannels,
                                           a: w.baseAddress!, lda: k, c: out + first * ow, ldc: p) {
                    Im2Col.imageToColumns(xs.baseAddress! + n * inStride, g, outputRows: rows, into: cols.baseAddress!)
                    Gemm.multiply(m: outChannels, n: pixels, k: k, a: w.baseAddress!, lda: k,
                                  b: cols.baseAddress!, ldb: pixels, c: out + first * ow, ldc: p)
                  }
                  if relu {
                    Kernels.addRowBiasRelu(b.baseAddress!, to: out + first * ow, rows: outChannels, columns: pixels, rowStride: p)
                  } else {
                    Kernels.addRowBias(b.baseAddress!, to: out + first * ow, rows: outChannels, columns: pixels, rowStride: p)
                  }
                }
              }
            }
          }
        }
      }
    }
    return output
  }

  public func backward(_ dy: Tensor) -> Tensor {
    let g = geometry(Array(input.shape.dropFirst()))
    let batch = input.shape[0], k = g.patchSize, p = g.outputPixels, ow = g.outputWidth, bands = bands(g)
    invariant(dy.shape == [batch, outChannels, g.outputHeight, g.outputWidth],
                 "\(name) backward: gradient \(dy.shape) for input \(input.shape)")
    let inStride = inChannels * g.height * g.width, outStride = outChannels * p
    // The ReLU's mask, unless a max pooling after this layer applied it already.
    let masksHere = activation == .relu && !receivesMaskedGradient, bandFloats = k * bands[0].count * ow
    if masksHere && maskedGradient.count != outStride { maskedGradient = [Float](repeating: 0, count: outStride) }
    if columns.count < bandFloats { columns = [Float](repeating: 0, count: bandFloats) }
    if computesInputGradient && inputGradientColumns.count < bandFloats {
      inputGradientColumns = [Float](repeating: 0, count: bandFloats)
    }
    var dx = computesInputGradient ? Tensor(uninitializedShape: input.shape) { _ in } : Tensor(zeros: [0])
    input.withUnsafeBufferPointer { xs in
    output.withUnsafeBufferPointer { ys in
    dy.withUnsafeBufferPointer { dys in
    weight.value.withUnsafeBufferPointer { w in
    weight.gradient.withUnsafeMutableBufferPointer { dw in
    bias.gradient.withUnsafeMutableBufferPointer { db in
    columns.withUnsafeMutableBufferPointer { cols in
    inputGradientColumns.withUnsafeMutableBufferPointer { dcols in
    maskedGradient.withUnsafeMutableBufferPointer { masked in
    dx.withUnsafeMutableBufferPointer { dxs in
      for n in 0..<batch {
        var dyn = UnsafePointer(dys.baseAddress! + n * outStride)
        if masksHere {
          Kernels.reluBackward(output: ys.baseAddress! + n * outStride, dyn, masked.baseAddress!, count: outStride)
          dyn = UnsafePointer(masked.baseAddress!)
        }
        for rows in bands {
          let first = rows.lowerBound, pixels = rows.count * ow
          if !Gemm.multiplyColumns(of: xs.baseAddress! + n * inStride, g, outputRows: rows, transposeColumns: true,
                                   m: outChannels, a: dyn + first * ow, lda: p, c: dw.baseAddress!, ldc: k) {
            Im2Col.imageToColumns(xs.baseAddress! + n * inStride, g, outputRows: rows, into: cols.baseAddress!)
            Gemm.multiply(transposeB: true, m: outChannels, n: k, k: pixels,
                          a: dyn + first * ow, lda: p, b: cols.baseAddress!, ldb: pixels,
                          accumulate: true, c: dw.baseAddress!, ldc: k)
          }
        }
        for o in 0..<outChannels { db[o] += Kernels.sum(dyn + o * p, count: p) }
        if computesInputGradient {
          let image = dxs.baseAddress! + n * inStride
          image.update(repeating: 0, count: inStride)
          // Last band first: col2im's order for each pixel (see addColumnsToImage).
          for rows in bands.reversed() {
            let first = rows.lowerBound, pixels = rows.count * ow
            Gemm.multiply(transposeA: true, m: k, n: pixels, k: outChannels,
                          a: w.baseAddress!, lda: k, b: dyn + first * ow, ldb: p, c: dcols.baseAddress!, ldc: pixels)
            Im2Col.addColumnsToImage(dcols.baseAddress!, g, outputRows: rows, into: image)
          }
        }
      }
    }}}}}}}}}}
    return dx
  }
}
