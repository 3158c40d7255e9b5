import TandemNN
import TandemTensor

/// Generated problems with known structure, for demos, tests and benchmarks
/// that must not depend on files.
public enum SyntheticData {
  /// `count` rows of `features` standard-normal values labelled by the sign of
  /// a fixed random linear rule, so the classes are linearly separable.
  public static func separableRows(count: Int, features: Int, seed: UInt64) -> Batch {
    var rng = SeededGenerator(seed: seed)
    let rule = (0..<features).map { _ in rng.nextNormal() }
    var x = [Float](), labels = [Int32]()
    x.reserveCapacity(count * features)
    for _ in 0..<count {
      var dot = 0.0
      for f in 0..<features {
        let v = rng.nextNormal()
        dot += v * rule[f]
        x.append(Float(v))
      }
      labels.append(dot > 0 ? 1 : 0)
    }
    return Batch(input: Tensor(uncheckedShape: [count, features], scalars: x), labels: labels)
  }

  /// `count` noisy grayscale images `[1, size, size]`; class 1 carries a bright
  /// disc at a random place, class 0 does not. Labels alternate 0, 1, 0, ...
  public static func images(count: Int, size: Int, seed: UInt64) -> Batch {
    var rng = SeededGenerator(seed: seed)
    var x = [Float](repeating: 0, count: count * size * size)
    var labels = [Int32]()
    for n in 0..<count {
      let label = Int32(n % 2)
      labels.append(label)
      let base = n * size * size
      for i in 0..<(size * size) { x[base + i] = Float(rng.nextNormal() * 0.5) }
      if label == 1 {
        let r = Double(size) / 6
        let cy = r + rng.nextUniform() * (Double(size) - 2 * r)
        let cx = r + rng.nextUniform() * (Double(size) - 2 * r)
        for y in 0..<size {
          for xx in 0..<size where (Double(y) - cy) * (Double(y) - cy) + (Double(xx) - cx) * (Double(xx) - cx) < r * r {
            x[base + y * size + xx] += 2
          }
        }
      }
    }
    return Batch(input: Tensor(uncheckedShape: [count, 1, size, size], scalars: x), labels: labels)
  }

  /// Rows `range` of a batch.
  public static func slice(_ batch: Batch, _ range: Range<Int>) -> Batch { batch.rows(range) }
}
