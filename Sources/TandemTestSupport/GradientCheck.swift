import TandemNN
import TandemTensor

/// Central finite differences against a layer's or model's backward pass.
///
/// The scalar objective is `L = Σ r ⊙ f(x)` for a fixed random `r`, so every
/// output contributes. `L` is accumulated in Float64, which leaves the Float32
/// forward pass as the only rounding source: with step `h`, its error in the
/// difference quotient is about `ε₃₂·|L|/h`, which is what the tolerances in the
/// tests are sized against.
public enum GradientCheck {
  public struct Report: CustomStringConvertible {
    public var worstRelativeError: Double
    public var worstName: String
    public var checked: Int
    /// Entries skipped because a kink (ReLU or max-pool switch) lies within `h`.
    public var kinks = 0
    /// Per tensor, `‖analytic − numeric‖₂ / max(‖analytic‖₂, ‖numeric‖₂, floor·√n)` over
    /// its checked entries: the well-conditioned measure. One entry whose gradient
    /// is tiny carries the Float32 forward pass's rounding (about ε₃₂·|L|/h) as
    /// a large *relative* error, but adds almost nothing to its tensor's norm.
    public var tensorErrors: [(name: String, error: Double)] = []
    public var worstNormwiseError: Double { tensorErrors.map(\.error).max() ?? 0 }
    public var worstNormwiseTensor: String { tensorErrors.max { $0.error < $1.error }?.name ?? "-" }
    public var description: String {
      "worst norm-wise error \(worstNormwiseError) in \(worstNormwiseTensor); worst entry \(worstRelativeError) at \(worstName) "
        + "over \(checked) entries (\(kinks) skipped at kinks)"
    }

    mutating func recordTensor(_ name: String, analytic: [Double], numeric: [Double], floor: Double = 1e-2) {
      guard !analytic.isEmpty else { return }
      let difference = zip(analytic, numeric).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
      let a = analytic.reduce(0) { $0 + $1 * $1 }.squareRoot(), n = numeric.reduce(0) { $0 + $1 * $1 }.squareRoot()
      tensorErrors.append((name, difference / max(a, n, floor * Double(analytic.count).squareRoot())))
    }
  }

  /// Compares the analytic gradients of `layer` (inputs and parameters) with
  /// central differences at up to `samplesPerTensor` entries per tensor.
  public static func check(layer: any Layer, input: Tensor, step h: Float = 1e-2,
                           samplesPerTensor: Int = 40, seed: UInt64 = 1, checkInput: Bool = true) -> Report {
    var rng = SeededGenerator(seed: seed)
    let y = layer.forward(input)
    let r = (0..<y.count).map { _ in Float(rng.nextNormal()) }
    let objective: (Tensor) -> Double = { x in
      let out = layer.forward(x)
      var s = 0.0
      for i in 0..<out.count { s += Double(out.scalars[i]) * Double(r[i]) }
      return s
    }
    for p in layer.parameters { p.zeroGradient() }
    _ = layer.forward(input)
    let dx = layer.backward(Tensor(uncheckedShape: y.shape, scalars: r))
    var report = Report(worstRelativeError: 0, worstName: "-", checked: 0)

    if checkInput {
      var analytic: [Double] = [], numerics: [Double] = []
      for i in sampleIndices(input.count, samplesPerTensor, &rng) {
        var plus = input, minus = input
        plus.scalars[i] += h
        minus.scalars[i] -= h
        let numeric = (objective(plus) - objective(minus)) / Double(2 * h)
        record(&report, analytic: Double(dx.scalars[i]), numeric: numeric, name: "input[\(i)]")
        analytic.append(Double(dx.scalars[i])); numerics.append(numeric)
      }
      report.recordTensor("input", analytic: analytic, numeric: numerics)
    }
    for p in layer.parameters {
      let analytic = p.gradient
      let original = p.value
      var checkedAnalytic: [Double] = [], checkedNumeric: [Double] = []
      for i in sampleIndices(original.count, samplesPerTensor, &rng) {
        p.value.scalars[i] = original.scalars[i] + h
        let lp = objective(input)
        p.value.scalars[i] = original.scalars[i] - h
        let lm = objective(input)
        p.value = original
        record(&report, analytic: Double(analytic.scalars[i]), numeric: (lp - lm) / Double(2 * h),
               name: "\(p.name)[\(i)]")
        checkedAnalytic.append(Double(analytic.scalars[i])); checkedNumeric.append((lp - lm) / Double(2 * h))
      }
      report.recordTensor(p.name, analytic: checkedAnalytic, numeric: checkedNumeric)
    }
    return report
  }

  /// Same check for a whole model through its loss.
  ///
  /// A whole network has ReLUs and max-pools inside, and a parameter such as a
  /// bias moves every position of its channel, so some entries have a kink
  /// within `h` where no difference quotient is meaningful. They are found
  /// exactly: an entry is skipped (and counted in `kinks`) when the layers'
  /// activation patterns at θ ± h differ from those at θ, i.e. a ReLU changed
  /// sign or a max-pool changed its winner. Every other entry lies on one
  /// smooth piece, where the central difference is accurate to O(h²) plus
  /// the Float32 forward pass's rounding, which the norm-wise error absorbs.
  public static func check(model: Model, input: Tensor, labels: [Int32], step h: Float = 1e-2,
                           samplesPerTensor: Int = 12, seed: UInt64 = 1) throws -> Report {
    var rng = SeededGenerator(seed: seed)
    let loss: () throws -> (Double, [[UInt8]]) = {
      let logits = try model.forward(input)
      return (model.loss.evaluate(logits: logits, labels: labels, normalizer: nil).loss, model.layers.map(\.activationPattern))
    }
    model.zeroGradients()
    try model.accumulateGradients(input, labels: labels)
    let pattern = model.layers.map(\.activationPattern)
    var report = Report(worstRelativeError: 0, worstName: "-", checked: 0)
    for p in model.parameters {
      let analytic = p.gradient
      let original = p.value
      var checkedAnalytic: [Double] = [], checkedNumeric: [Double] = []
      for i in sampleIndices(original.count, samplesPerTensor, &rng) {
        p.value.scalars[i] = original.scalars[i] + h
        let (lp, patternPlus) = try loss()
        p.value.scalars[i] = original.scalars[i] - h
        let (lm, patternMinus) = try loss()
        p.value = original
        if patternPlus != pattern || patternMinus != pattern {
          report.kinks += 1
          continue
        }
        record(&report, analytic: Double(analytic.scalars[i]), numeric: (lp - lm) / Double(2 * h),
               name: "\(p.name)[\(i)]")
        checkedAnalytic.append(Double(analytic.scalars[i])); checkedNumeric.append((lp - lm) / Double(2 * h))
      }
      report.recordTensor(p.name, analytic: checkedAnalytic, numeric: checkedNumeric)
    }
    return report
  }

  /// `|a − n| / max(|a|, |n|, floor)`: relative where gradients are large,
  /// absolute (scaled by `floor`) where both are near zero.
  static func record(_ report: inout Report, analytic: Double, numeric: Double, name: String, floor: Double = 1e-2) {
    let error = abs(analytic - numeric) / max(abs(analytic), abs(numeric), floor)
    report.checked += 1
    if error > report.worstRelativeError {
      report.worstRelativeError = error
      report.worstName = "\(name) (analytic \(analytic), numeric \(numeric))"
    }
  }

  static func sampleIndices(_ count: Int, _ k: Int, _ rng: inout SeededGenerator) -> [Int] {
    if count <= k { return Array(0..<count) }
    return (0..<k).map { _ in Int(rng.next() % UInt64(count)) }
  }
}

/// A tensor of standard-normal values from `seed`.
public func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
  var rng = SeededGenerator(seed: seed)
  return Tensor(uninitializedShape: shape) { p in
    for i in 0..<p.count { p[i] = Float(rng.nextNormal()) * scale }
  }
}

extension GradientCheck {
  public struct Directional: CustomStringConvertible {
    public var analytic: Double
    public var numeric: Double
    public var relativeError: Double { abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-6) }
    public var description: String { "directional derivative analytic \(analytic) numeric \(numeric)" }
  }

  /// Compares `∇L · d` with `(L(θ + h·d) − L(θ − h·d)) / 2h` for a random unit
  /// direction `d` over all parameters at once.
  public static func directional(model: Model, input: Tensor, labels: [Int32], step h: Float = 1e-3,
                                 seed: UInt64 = 2) throws -> Directional {
    var rng = SeededGenerator(seed: seed)
    let directions = model.parameters.map { p in (0..<p.count).map { _ in rng.nextNormal() } }
    let norm = directions.joined().reduce(0) { $0 + $1 * $1 }.squareRoot()
    model.zeroGradients()
    try model.accumulateGradients(input, labels: labels)
    var analytic = 0.0
    for (p, d) in zip(model.parameters, directions) {
      for i in 0..<p.count { analytic += Double(p.gradient.scalars[i]) * d[i] / norm }
    }
    let originals = model.parameters.map(\.value)
    func loss(shift: Float) throws -> Double {
      for (k, p) in model.parameters.enumerated() {
        p.value = originals[k]
        for i in 0..<p.count { p.value.scalars[i] += shift * Float(directions[k][i] / norm) }
      }
      let logits = try model.forward(input)
      return model.loss.evaluate(logits: logits, labels: labels, normalizer: nil).loss
    }
    let numeric = (try loss(shift: h) - loss(shift: -h)) / Double(2 * h)
    for (k, p) in model.parameters.enumerated() { p.value = originals[k] }
    return Directional(analytic: analytic, numeric: numeric)
  }
}
