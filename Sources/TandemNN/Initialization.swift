import TandemTensor

public enum Initialization {
  /// He (Kaiming) normal: each weight (a parameter of rank ≥ 2) is drawn from
  /// N(0, 2 / fanIn), with fanIn the product of all but its first dimension;
  /// biases are set to zero and normalisation scales to one. Parameters are filled in order from one
  /// generator, so a seed defines the initial model on every platform.
  public static func heNormal(_ parameters: [Parameter], seed: UInt64) {
    var rng = SeededGenerator(seed: seed)
    for parameter in parameters {
      let shape = parameter.value.shape
      if shape.count < 2 {
        // Normalisation scales start at 1 (the identity), biases and shifts at 0.
        parameter.value = parameter.name.hasSuffix(".scale")
          ? Tensor(uncheckedShape: shape, scalars: [Float](repeating: 1, count: parameter.count)) : Tensor(zeros: shape)
        continue
      }
      let fanIn = shape.dropFirst().reduce(1, *)
      let std = (2.0 / Double(fanIn)).squareRoot()
      parameter.value = Tensor(uninitializedShape: shape) { w in
        for i in 0..<w.count { w[i] = Float(rng.nextNormal() * std) }
      }
    }
  }
}
