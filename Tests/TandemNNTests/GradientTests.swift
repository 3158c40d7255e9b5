import Testing
import TandemNN
import TandemTensor
import TandemTestSupport

/// Inputs with distinct values at least 0.1 apart, so a finite-difference step
/// of 1e-2 never crosses a ReLU kink or swaps a max-pool winner.
func separatedInput(_ shape: [Int], seed: UInt64) -> Tensor {
  let count = shape.reduce(1, *)
  var rng = SeededGenerator(seed: seed)
  var values = (0..<count).map { Float($0 - count / 2) * 0.1 + 0.05 }
  values.shuffle(using: &rng)
  return Tensor(uncheckedShape: shape, scalars: values)
}

// Tolerance: layers are Float32 and the objective is summed in Float64. With
// h = 1e-2 the rounding error of a difference quotient is about
// ε₃₂·|L|/h ≈ 1.2e-7·50/1e-2 ≈ 6e-4 in absolute terms; relative to gradients of
// order 1 (floor 1e-2), 1e-2 leaves a margin of about 15x. Linear layers have no
// truncation error, and separated inputs keep ReLU and max-pool piecewise linear.
let layerTolerance = 1e-2

// Whole networks are checked norm-wise per tensor (GradientCheck.Report),
// which is well conditioned where a per-entry bound is not.
let wholeModelTolerance = 1e-2

@Test(arguments: [
  (inChannels: 1, outChannels: 4, kernel: 3, stride: 1, padding: 1, size: 8),
  (inChannels: 3, outChannels: 2, kernel: 3, stride: 1, padding: 1, size: 6),
  (inChannels: 2, outChannels: 3, kernel: 5, stride: 2, padding: 2, size: 9),
  (inChannels: 2, outChannels: 2, kernel: 1, stride: 1, padding: 0, size: 5),
  (inChannels: 1, outChannels: 2, kernel: 2, stride: 3, padding: 0, size: 8),
])
func conv2DGradientsMatchFiniteDifferences(
  inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, size: Int
) {
  let conv = Conv2D(name: "conv", inChannels: inChannels, outChannels: outChannels,
                    kernelSize: kernel, stride: stride, padding: padding)
  Initialization.heNormal(conv.parameters, seed: 5)
  conv.bias.value = randomTensor([outChannels], seed: 6)
  let report = GradientCheck.check(layer: conv, input: randomTensor([2, inChannels, size, size], seed: 7))
  #expect(report.worstRelativeError < layerTolerance, "\(report)")
}

@Test func conv2DWithoutInputGradientStillAccumulatesWeightGradient() {
  let a = Conv2D(name: "a", inChannels: 1, outChannels: 2, computesInputGradient: true)
  let b = Conv2D(name: "b", inChannels: 1, outChannels: 2, computesInputGradient: false)
  Initialization.heNormal(a.parameters, seed: 1)
  Initialization.heNormal(b.parameters, seed: 1)
  let x = randomTensor([2, 1, 6, 6], seed: 2)
  let dy = randomTensor([2, 2, 6, 6], seed: 3)
  _ = a.forward(x); _ = a.backward(dy)
  _ = b.forward(x); _ = b.backward(dy)
  #expect(a.weight.gradient == b.weight.gradient)
  #expect(a.bias.gradient == b.bias.gradient)
}

@Test func denseGradientsMatchFiniteDifferences() {
  let dense = Dense(name: "fc", inputs: 7, outputs: 5)
  Initialization.heNormal(dense.parameters, seed: 1)
  dense.bias.value = randomTensor([5], seed: 2)
  let report = GradientCheck.check(layer: dense, input: randomTensor([4, 7], seed: 3))
  #expect(report.worstRelativeError < layerTolerance, "\(report)")
}

@Test func reluGradientMatchesFiniteDifferences() {
  let report = GradientCheck.check(layer: ReLU(), input: separatedInput([3, 2, 5, 5], seed: 4))
  #expect(report.worstRelativeError < layerTolerance, "\(report)")
}

@Test func maxPoolGradientMatchesFiniteDifferences() {
  let report = GradientCheck.check(layer: MaxPool2D(), input: separatedInput([2, 3, 6, 8], seed: 5), samplesPerTensor: 200)
  #expect(report.worstRelativeError < layerTolerance, "\(report)")
}

@Test func maxPoolDropsOddTrailingRowsAndColumns() {
  let pool = MaxPool2D()
  let y = pool.forward(separatedInput([1, 1, 5, 7], seed: 1))
  #expect(y.shape == [1, 1, 2, 3])
  let report = GradientCheck.check(layer: pool, input: separatedInput([1, 2, 5, 7], seed: 2))
  #expect(report.worstRelativeError < layerTolerance, "\(report)")
}

@Test func globalAveragePoolGradientMatchesFiniteDifferences() {
  let report = GradientCheck.check(layer: GlobalAveragePool(), input: randomTensor([3, 4, 5, 6], seed: 6))
  #expect(report.worstRelativeError < layerTolerance, "\(report)")
}

/// Losses are smooth, so their check uses a whole model of one Dense layer.
@Test(arguments: [nil, [Float(0.3), 2.5]])
func sigmoidCrossEntropyGradientMatchesFiniteDifferences(weights: [Float]?) throws {
  let model = Model(name: "logreg", sampleShape: [6], classes: 2,
                    layers: [Dense(name: "fc", inputs: 6, outputs: 1)],
                    loss: SigmoidBinaryCrossEntropy(classWeights: weights))
  Initialization.heNormal(model.parameters, seed: 2)
  let report = try GradientCheck.check(model: model, input: randomTensor([8, 6], seed: 3),
                                       labels: [0, 1, 1, 0, 1, 0, 0, 1], step: 1e-3, samplesPerTensor: 20)
  #expect(report.worstRelativeError < 2e-2, "\(report)")
}

@Test(arguments: [nil, [Float(1), 3, 0.5]])
func softmaxCrossEntropyGradientMatchesFiniteDifferences(weights: [Float]?) throws {
  let model = Model(name: "softmax", sampleShape: [5], classes: 3,
                    layers: [Dense(name: "fc", inputs: 5, outputs: 3)],
                    loss: SoftmaxCrossEntropy(classWeights: weights))
  Initialization.heNormal(model.parameters, seed: 4)
  let report = try GradientCheck.check(model: model, input: randomTensor([6, 5], seed: 5),
                                       labels: [0, 1, 2, 2, 1, 0], step: 1e-3, samplesPerTensor: 20)
  #expect(report.worstRelativeError < 2e-2, "\(report)")
}

@Test func softmaxCrossEntropyOfUniformLogitsIsLogOfClassCount() {
  let loss = SoftmaxCrossEntropy()
  let (value, gradient) = loss.evaluate(logits: Tensor(zeros: [4, 3]), labels: [0, 1, 2, 0], normalizer: nil)
  #expect(abs(value - 1.0986122886681098) < 1e-6)
  // d/dz = (softmax − onehot)/batch = (1/3 − [c == y]) / 4
  #expect(abs(gradient.scalars[0] - (1.0 / 3 - 1) / 4) < 1e-6)
  #expect(abs(gradient.scalars[1] - (1.0 / 3) / 4) < 1e-6)
}

@Test func sigmoidCrossEntropyIsStableForLargeLogits() {
  let loss = SigmoidBinaryCrossEntropy()
  let (value, gradient) = loss.evaluate(logits: Tensor(uncheckedShape: [2, 1], scalars: [200, -200]),
                                        labels: [0, 1], normalizer: nil)
  #expect(abs(value - 200) < 1e-6)
  #expect(gradient.scalars.map { abs($0) } == [0.5, 0.5])
}

// Whole networks: these checks catch wiring bugs (a layer's gradient routed to
// the wrong place, a missing term), which give errors of order 100%; each
// layer's arithmetic is checked tightly above. With ReLUs and max-pools inside
// and Float32 forward passes, entries whose one-sided differences disagree by
// more than 5% have a kink within h and are skipped (at most a quarter may
// be); the rest must agree within 5%. The directional derivative over all
// parameters at once averages the kinks out and must agree within 1%.
//
// Biases start at zero, which puts a unit whose inputs are all zero exactly on
// its ReLU kink; small random biases move every unit off it.
func randomizeBiases(_ model: Model, seed: UInt64) {
  for (k, p) in model.parameters.enumerated() where p.value.rank == 1 {
    p.value = randomTensor(p.value.shape, seed: seed &+ UInt64(k), scale: 0.1)
  }
}

@Test func xrayCNNBackwardMatchesFiniteDifferences() throws {
  let model = try Model.reference(.xrayCNN, imageSize: 16, seed: 3)
  randomizeBiases(model, seed: 30)
  let x = randomTensor([2, 1, 16, 16], seed: 4)
  // Kinks are detected exactly (activation patterns at θ ± h), so the step can
  // be 1e-2, where the Float32 forward pass's rounding (ε₃₂·|L|/h) is a tenth
  // of what it is at 1e-3. Norm-wise per tensor: one entry whose gradient is
  // near zero carries that rounding as a large relative error without saying
  // anything about the backward pass. Measured: 2.3e-3, with either kernel.
  let report = try GradientCheck.check(model: model, input: x, labels: [0, 1], step: 1e-2, samplesPerTensor: 12)
  #expect(report.worstNormwiseError < wholeModelTolerance, "\(report)")
  // A shift of an early bias moves a whole channel across some ReLU, so such a
  // tensor may have every sampled entry at a kink; the directional check below
  // covers every parameter at once.
  #expect(report.kinks <= report.checked && report.tensorErrors.count * 4 >= model.parameters.count * 3,
          "\(report); checked tensors \(report.tensorErrors.map(\.name))")
  let directional = try GradientCheck.directional(model: model, input: x, labels: [0, 1], step: 1e-3)
  #expect(directional.relativeError < 1e-2, "\(directional)")
}

@Test func churnMLPBackwardMatchesFiniteDifferences() throws {
  let model = try Model.reference(.churnMLP, features: 10, seed: 5)
  randomizeBiases(model, seed: 50)
  let x = randomTensor([6, 10], seed: 6)
  let labels: [Int32] = [0, 1, 1, 0, 0, 1]
  let report = try GradientCheck.check(model: model, input: x, labels: labels, step: 1e-2, samplesPerTensor: 15)
  #expect(report.worstNormwiseError < wholeModelTolerance, "\(report)")
  #expect(report.kinks <= report.checked && report.tensorErrors.count == model.parameters.count, "\(report)")
  let directional = try GradientCheck.directional(model: model, input: x, labels: labels, step: 1e-3)
  #expect(directional.relativeError < 1e-2, "\(directional)")
}

/// The fused ReLU must be exactly the separate layer: same outputs, same
/// gradients, bit for bit (both apply the same mask to the same numbers).
@Test func convolutionWithFusedReLUEqualsConvolutionThenReLU() {
  let fused = Conv2D(name: "c", inChannels: 2, outChannels: 3, activation: .relu)
  let plain = Conv2D(name: "c", inChannels: 2, outChannels: 3)
  let relu = ReLU()
  Initialization.heNormal(fused.parameters, seed: 8)
  Initialization.heNormal(plain.parameters, seed: 8)
  fused.bias.value = randomTensor([3], seed: 9, scale: 0.3)
  plain.bias.value = fused.bias.value
  let x = randomTensor([2, 2, 7, 7], seed: 10), dy = randomTensor([2, 3, 7, 7], seed: 11)
  let y1 = fused.forward(x)
  let y2 = relu.forward(plain.forward(x))
  #expect(y1 == y2)
  #expect(y1.scalars.contains(0) && y1.scalars.contains { $0 > 0 }, "the mask must matter")
  let dx1 = fused.backward(dy)
  let dx2 = plain.backward(relu.backward(dy))
  #expect(dx1 == dx2)
  #expect(fused.weight.gradient == plain.weight.gradient)
  #expect(fused.bias.gradient == plain.bias.gradient)
}

@Test(arguments: [(channels: 4, groups: 2, size: 5), (channels: 6, groups: 1, size: 4), (channels: 8, groups: 8, size: 3)])
func groupNormGradientsMatchFiniteDifferences(channels: Int, groups: Int, size: Int) {
  let norm = GroupNorm(name: "norm", channels: channels, groups: groups)
  norm.scale.value = randomTensor([channels], seed: 11, scale: 0.5)
  norm.shift.value = randomTensor([channels], seed: 12, scale: 0.5)
  // Standardisation divides by the group's spread: inputs of spread about 1
  // keep the objective's curvature, and so the truncation error, small.
  let report = GradientCheck.check(layer: norm, input: randomTensor([3, channels, size, size], seed: 13), step: 1e-2)
  #expect(report.worstRelativeError < layerTolerance, "\(report)")
}

/// No batch statistics: a sample's output is the same alone as among others,
/// so any split of a batch over ranks or micro-batches computes the same bits.
@Test func groupNormOfASampleDoesNotDependOnTheRestOfTheBatch() {
  let norm = GroupNorm(name: "norm", channels: 4, groups: 2)
  norm.scale.value = randomTensor([4], seed: 1)
  let batch = randomTensor([3, 4, 6, 6], seed: 2)
  let together = norm.forward(batch).scalars
  let alone = norm.forward(Tensor(uncheckedShape: [1, 4, 6, 6], scalars: Array(batch.scalars[144..<288]))).scalars
  #expect(Array(together[144..<288]).map(\.bitPattern) == alone.map(\.bitPattern))
}

@Test func groupNormStandardisesEachGroup() {
  let norm = GroupNorm(name: "norm", channels: 2, groups: 1)
  let y = norm.forward(randomTensor([1, 2, 8, 8], seed: 3, scale: 7)).scalars.map(Double.init)
  let mean = y.reduce(0, +) / Double(y.count)
  let variance = y.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(y.count)
  #expect(abs(mean) < 1e-6 && abs(variance - 1) < 1e-4, "mean \(mean), variance \(variance)")
}

@Test func xrayCNNWithGroupNormBackwardMatchesFiniteDifferences() throws {
  let model = try Model.reference(.xrayCNNGroupNorm, imageSize: 16, seed: 3)
  randomizeBiases(model, seed: 31)
  #expect(model.parameterCount == (try Model.reference(.xrayCNN, imageSize: 16, seed: 3)).parameterCount + 2 * (16 + 32 + 64 + 128))
  // Normalised features make two random images look alike at initialisation,
  // so opposite labels would cancel their gradients down to Float32 rounding;
  // the same label for both keeps the derivative large enough to check.
  let x = randomTensor([2, 1, 16, 16], seed: 4)
  let directional = try GradientCheck.directional(model: model, input: x, labels: [1, 1], step: 1e-3)
  #expect(directional.relativeError < 1e-2, "\(directional)")
  let report = try GradientCheck.check(model: model, input: x, labels: [1, 1], step: 1e-2, samplesPerTensor: 8)
  #expect(report.worstNormwiseError < wholeModelTolerance, "\(report)")
}

@Test func deepXrayCNNBackwardMatchesFiniteDifferences() throws {
  let model = try Model.reference(.xrayCNNDeep, imageSize: 16, seed: 5)
  randomizeBiases(model, seed: 37)
  let x = randomTensor([2, 1, 16, 16], seed: 6)
  let directional = try GradientCheck.directional(model: model, input: x, labels: [1, 1], step: 1e-3)
  #expect(directional.relativeError < 1e-2, "\(directional)")
  let report = try GradientCheck.check(model: model, input: x, labels: [1, 1], step: 1e-2, samplesPerTensor: 8)
  #expect(report.worstNormwiseError < wholeModelTolerance, "\(report)")
}

/// Conv2D builds its column matrix one band of output rows at a time (here
/// five bands of 14 rows): output, weight gradient and input gradient must be
/// the bits of one product over the whole column matrix.
@Test func convolutionInBandsEqualsOneProductOverTheWholeColumnMatrix() {
  let conv = Conv2D(name: "c", inChannels: 16, outChannels: 8)
  Initialization.heNormal(conv.parameters, seed: 3)
  conv.bias.value = randomTensor([8], seed: 4, scale: 0.3)
  let batch = 2, size = 64
  let x = randomTensor([batch, 16, size, size], seed: 5), dy = randomTensor([batch, 8, size, size], seed: 6)
  let g = ConvolutionGeometry(channels: 16, height: size, width: size, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1)
  let k = g.patchSize, p = g.outputPixels
  var expectedOutput = [Float](repeating: 0, count: batch * 8 * p)
  var expectedWeightGradient = [Float](repeating: 0, count: 8 * k)
  var expectedInputGradient = [Float](repeating: 0, count: batch * 16 * p)
  var cols = [Float](repeating: 0, count: k * p)
  x.scalars.withUnsafeBufferPointer { xs in
    conv.weight.value.scalars.withUnsafeBufferPointer { w in
      for n in 0..<batch {
        cols.withUnsafeMutableBufferPointer { Im2Col.imageToColumns(xs.baseAddress! + n * 16 * p, g, into: $0.baseAddress!) }
        expectedOutput.withUnsafeMutableBufferPointer { out in
          cols.withUnsafeBufferPointer { c in
            Gemm.multiply(m: 8, n: p, k: k, a: w.baseAddress!, lda: k, b: c.baseAddress!, ldb: p,
                          c: out.baseAddress! + n * 8 * p, ldc: p)
          }
          conv.bias.value.scalars.withUnsafeBufferPointer {
            Kernels.addRowBias($0.baseAddress!, to: out.baseAddress! + n * 8 * p, rows: 8, columns: p)
          }
        }
        dy.scalars.withUnsafeBufferPointer { d in
          cols.withUnsafeBufferPointer { c in
            expectedWeightGradient.withUnsafeMutableBufferPointer { dw in
              Gemm.multiply(transposeB: true, m: 8, n: k, k: p, a: d.baseAddress! + n * 8 * p, lda: p,
                            b: c.baseAddress!, ldb: p, accumulate: true, c: dw.baseAddress!, ldc: k)
            }
          }
          cols.withUnsafeMutableBufferPointer { c in
            Gemm.multiply(transposeA: true, m: k, n: p, k: 8, a: w.baseAddress!, lda: k,
                          b: d.baseAddress! + n * 8 * p, ldb: p, c: c.baseAddress!, ldc: p)
            expectedInputGradient.withUnsafeMutableBufferPointer {
              Im2Col.addColumnsToImage(c.baseAddress!, g, into: $0.baseAddress! + n * 16 * p)
            }
          }
        }
      }
    }
  }
  let y = conv.forward(x)
  let dx = conv.backward(dy)
  #expect(y.scalars.map(\.bitPattern) == expectedOutput.map(\.bitPattern))
  #expect(conv.weight.gradient.scalars.map(\.bitPattern) == expectedWeightGradient.map(\.bitPattern))
  #expect(dx.scalars.map(\.bitPattern) == expectedInputGradient.map(\.bitPattern))
}
