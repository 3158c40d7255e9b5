import TandemTensor

/// Where an image model looks: the drop in its score when a square patch of
/// the image is replaced by `fill` (0, the dataset mean after normalisation).
public struct OcclusionMap: Sendable {
  /// The image side S.
  public let size: Int
  public let patch: Int
  public let stride: Int
  /// Score of the image without occlusion (probability of the positive class).
  public let score: Float
  /// Top-left corner of each patch position along either axis, ascending.
  public let offsets: [Int]
  /// Score drop with the patch at row `offsets[i]`, column `offsets[k]`:
  /// `[offsets.count, offsets.count]`, row-major. Negative where hiding helps the score.
  public let drops: [Float]
  /// The drops upsampled to pixels, `[size, size]`: each pixel gets the mean
  /// drop of the patches that cover it, so the map is as fine as the stride.
  public let heat: [Float]

  /// The patch position with the largest drop: its top-left corner and the drop.
  public var hottest: (row: Int, column: Int, drop: Float) {
    let best = drops.indices.max { drops[$0] < drops[$1] }!
    return (offsets[best / offsets.count], offsets[best % offsets.count], drops[best])
  }
}

public enum Occlusion {
  /// Patch corners `0, stride, 2·stride, …` plus `size − patch` when the
  /// stride does not land there, so every pixel is covered.
  public static func offsets(size: Int, patch: Int, stride: Int) -> [Int] {
    invariant(patch > 0 && patch <= size && stride > 0, "occlusion patch \(patch), stride \(stride) on side \(size)")
    var result = Array(Swift.stride(from: 0, through: size - patch, by: stride))
    if result.last != size - patch { result.append(size - patch) }
    return result
  }

  /// Slides a `patch` × `patch` square over `image` (`[1, S, S]`) with
  /// `stride`, filling it with `fill`, and scores the occluded copies in
  /// batches of `batch` through `score` (`[n, 1, S, S]` → one score per image).
  public static func map(
    image: Tensor, patch: Int, stride: Int, fill: Float = 0, batch: Int = 32,
    score: (Tensor) throws -> [Float]
  ) rethrows -> OcclusionMap {
    invariant(image.rank == 3 && image.shape[0] == 1 && image.shape[1] == image.shape[2],
              "occlusion needs one square grayscale image [1, S, S], got \(image.shape)")
    invariant(batch > 0, "occlusion batch must be positive, got \(batch)")
    let size = image.shape[1], pixels = size * size
    let corners = offsets(size: size, patch: patch, stride: stride)
    let positions = corners.flatMap { y in corners.map { x in (y, x) } }
    let unoccluded = try score(Tensor(uncheckedShape: [1, 1, size, size], scalars: image.scalars))[0]
    var drops: [Float] = []
    drops.reserveCapacity(positions.count)
    for start in Swift.stride(from: 0, to: positions.count, by: batch) {
      let chunk = positions[start..<min(positions.count, start + batch)]
      let copies = Tensor(uninitializedShape: [chunk.count, 1, size, size]) { out in
        for (n, (y, x)) in chunk.enumerated() {
          let base = out.baseAddress! + n * pixels
          image.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: pixels) }
          for row in y..<(y + patch) {
            for column in x..<(x + patch) { base[row * size + column] = fill }
          }
        }
      }
      let scores = try score(copies)
      invariant(scores.count == chunk.count, "occlusion scorer returned \(scores.count) scores for \(chunk.count) images")
      drops += scores.map { unoccluded - $0 }
    }
    var sum = [Double](repeating: 0, count: pixels), covered = [Int](repeating: 0, count: pixels)
    for ((y, x), drop) in zip(positions, drops) {
      for row in y..<(y + patch) {
        for column in x..<(x + patch) {
          sum[row * size + column] += Double(drop)
          covered[row * size + column] += 1
        }
      }
    }
    let heat = (0..<pixels).map { Float(sum[$0] / Double(covered[$0])) }
    return OcclusionMap(size: size, patch: patch, stride: stride, score: unoccluded, offsets: corners, drops: drops, heat: heat)
  }
}
