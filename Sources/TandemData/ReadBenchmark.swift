import Foundation
import TandemTensor

/// Times `DatasetReader.batch(indices:)` on random batches, as a trainer
/// calls it: seeded random indices over the whole file, a fresh batch each
/// time, including the conversion to normalised floats.
public struct ReadBenchmark: Sendable {
  public struct Result: Codable, Sendable {
    public var file: String
    public var batchSize: Int
    public var batches: Int
    public var batchesPerSecond: Double
    /// Stored bytes read per second (uint8 pixels or float32 features).
    public var megabytesPerSecond: Double
    public var meanMilliseconds: Double
    public var p99Milliseconds: Double
    public var layout: String

    enum CodingKeys: String, CodingKey {
      case file, batches, layout
      case batchSize = "batch_size"
      case batchesPerSecond = "read_batches_per_s"
      case megabytesPerSecond = "read_mb_per_s"
      case meanMilliseconds = "read_ms_per_batch"
      case p99Milliseconds = "read_ms_p99"
    }
  }

  public var batchSize = 64
  public var batches = 500
  public var seed: UInt64 = 7

  public init() {}

  public func run(path: String) throws -> Result {
    let reader = try DatasetReader(path: path)
    let file = try HDF5File(readingAt: path)
    let dataset = try file.dataset(reader.kind == .images ? "/images" : "/features")
    let layout = dataset.chunkShape.map { "chunks \($0)" } ?? "contiguous"
    let rowBytes = dataset.rowElements * dataset.elementType.byteWidth
    var rng = SeededGenerator(seed: seed)
    var times: [Double] = []
    _ = try reader.batch(indices: Array(0..<min(batchSize, reader.count)))  // warm-up
    for _ in 0..<batches {
      let indices = (0..<batchSize).map { _ in Int(rng.next() % UInt64(reader.count)) }
      let start = DispatchTime.now().uptimeNanoseconds
      let batch = try reader.batch(indices: indices)
      times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
      precondition(batch.input.shape[0] == batchSize)
    }
    let total = times.reduce(0, +)
    let sorted = times.sorted()
    return Result(file: path, batchSize: batchSize, batches: batches,
                  batchesPerSecond: Double(batches) / total,
                  megabytesPerSecond: Double(batches * batchSize * rowBytes) / total / 1e6,
                  meanMilliseconds: total / Double(batches) * 1e3,
                  p99Milliseconds: sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))] * 1e3,
                  layout: layout)
  }
}
