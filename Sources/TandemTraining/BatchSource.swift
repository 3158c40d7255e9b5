import Foundation
import TandemRun
import TandemData
import TandemDistributed
import TandemTensor

/// What every rank knows about the dataset, decided by rank 0 and broadcast,
/// so all ranks plan from identical facts even without a shared filesystem.
public struct DatasetFacts: Equatable, Sendable {
  public var sampleShape: [Int]
  public var trainIndices: [Int]
  public var validationIndices: [Int]
  /// Labels for the run's task, indexed by sample (-1 outside the task).
  public var labels: [Int32]
  public var classCounts: [Int]
  public var contentSHA256: String

  init(reader: DatasetReader, task: LabelTask, trainSplit: Split, validationSplit: Split) {
    sampleShape = reader.sampleShape
    trainIndices = reader.indices(in: trainSplit, task: task)
    validationIndices = reader.indices(in: validationSplit, task: task)
    labels = reader.labels(task)
    classCounts = reader.classCounts(in: trainSplit, task: task)
    contentSHA256 = reader.contentSHA256
  }

  init(sampleShape: [Int], trainIndices: [Int], validationIndices: [Int], labels: [Int32],
       classCounts: [Int], contentSHA256: String) {
    self.sampleShape = sampleShape
    self.trainIndices = trainIndices
    self.validationIndices = validationIndices
    self.labels = labels
    self.classCounts = classCounts
    self.contentSHA256 = contentSHA256
  }

  /// Rank 0's facts on every rank.
  func broadcast(over communicator: some Communicator) throws -> DatasetFacts {
    var header: [Int64] = [Int64(sampleShape.count), Int64(trainIndices.count), Int64(validationIndices.count),
                           Int64(labels.count), Int64(classCounts.count)]
    try communicator.broadcast(&header, root: 0)
    let counts = header.map(Int.init)
    var body: [Int64] = communicator.rank == 0
      ? (sampleShape + trainIndices + validationIndices + labels.map(Int.init) + classCounts).map(Int64.init)
      : [Int64](repeating: 0, count: counts.reduce(0, +))
    try communicator.broadcast(&body, root: 0)
    let hash = try communicator.broadcast(bytes: Array(contentSHA256.utf8), root: 0)
    var cursor = 0
    func take(_ n: Int) -> [Int] {
      defer { cursor += n }
      return body[cursor..<cursor + n].map(Int.init)
    }
    return DatasetFacts(sampleShape: take(counts[0]), trainIndices: take(counts[1]), validationIndices: take(counts[2]),
                        labels: take(counts[3]).map(Int32.init), classCounts: take(counts[4]),
                        contentSHA256: String(decoding: hash, as: UTF8.self))
  }
}

/// Delivers each rank its share of a global batch, reading ahead on a
/// background thread while the current step computes.
///
/// Shared filesystem: every rank reads its own rows. Scatter mode: rank 0
/// reads the whole global batch and sends each rank its rows with one
/// `MPI_Scatterv`; other ranks never open the file.
final class BatchSource {
  private let reader: SerialReader?
  private let task: LabelTask
  private let scatter: Bool
  private let sampleSize: Int
  private let sampleShape: [Int]
  private let queue = DispatchQueue(label: "tandem.prefetch")
  private var pending: (key: [Int], epoch: Int?, result: ResultBox)?
  private let augmentation: ImageAugmentation
  private let seed: UInt64

  init(reader: DatasetReader?, task: LabelTask, scatter: Bool, sampleShape: [Int],
       augmentation: ImageAugmentation = .none, seed: UInt64 = 0) {
    self.reader = reader.map(SerialReader.init)
    self.task = task
    self.augmentation = augmentation
    self.seed = seed
    self.scatter = scatter
    self.sampleShape = sampleShape
    self.sampleSize = sampleShape.reduce(1, *)
  }

  /// The rows this rank reads itself for a global batch and this rank's share.
  private func rowsToRead(global: ArraySlice<Int>, share: ArraySlice<Int>, rank: Int) -> [Int] {
    scatter ? (rank == 0 ? Array(global) : []) : Array(share)
  }

  /// The augmentation of `epoch`'s training batches; nil (evaluation) or none: unchanged images.
  private func transform(epoch: Int?) -> (@Sendable (Int) -> ImageTransform)? {
    guard let epoch, !augmentation.isNone else { return nil }
    let augmentation = self.augmentation, seed = self.seed
    return { augmentation.transform(seed: seed, epoch: epoch, sample: $0) }
  }

  /// Starts reading ahead for the next call of `batch` with the same arguments.
  func prefetch(global: ArraySlice<Int>, share: ArraySlice<Int>, rank: Int, epoch: Int? = nil) {
    // A step of a small model is shorter than waking a thread; `batch` gathers those rows itself.
    if let reader, reader.reader.holdsTableInMemory { pending = nil; return }
    let rows = rowsToRead(global: global, share: share, rank: rank)
    let box = ResultBox()
    pending = (rows, epoch, box)
    guard let reader, !rows.isEmpty else { box.set(.success(nil)); return }
    let task = self.task, transform = transform(epoch: epoch)
    queue.async { box.set(Result { try reader.batch(rows, task, transform) }) }
  }

  /// This rank's share of a global batch (nil when the share is empty), and
  /// the seconds spent waiting for data. Training batches name their `epoch`,
  /// which draws their augmentation; evaluation batches do not.
  func batch(global: ArraySlice<Int>, shares: [ArraySlice<Int>], rank: Int, epoch: Int? = nil,
             communicator: some Communicator) throws -> (batch: Batch?, wait: Double) {
    let start = DispatchTime.now().uptimeNanoseconds
    let rows = rowsToRead(global: global, share: shares[rank], rank: rank)
    let read: Batch?
    if let pending, pending.key == rows, pending.epoch == epoch {
      read = try pending.result.wait()
    } else if let reader, !rows.isEmpty {
      let task = self.task, transform = transform(epoch: epoch)
      read = try queue.sync { try reader.batch(rows, task, transform) }
    } else {
      read = nil
    }
    pending = nil
    var mine = read
    if scatter && communicator.worldSize > 1 {
      // Rank 0 cuts the global batch into the ranks' shares, in order.
      var inputParts: [[Float]] = [], labelParts: [[Int64]] = []
      if rank == 0, let read {
        var offset = 0
        for share in shares {
          inputParts.append(Array(read.input.scalars[offset * sampleSize..<(offset + share.count) * sampleSize]))
          labelParts.append(read.labels[offset..<offset + share.count].map(Int64.init))
          offset += share.count
        }
      }
      let count = shares[rank].count
      let input = try communicator.scatter(inputParts, count: count * sampleSize, root: 0)
      let labels = try communicator.scatter(labelParts, count: count, root: 0)
      mine = count == 0 ? nil : Batch(input: Tensor(uncheckedShape: [count] + sampleShape, scalars: input),
                                      labels: labels.map(Int32.init))
    }
    let wait = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    return (mine.flatMap { $0.count > 0 ? $0 : nil }, wait)
  }
}

/// The reader, touched only from the serial prefetch queue (one call at a time).
private final class SerialReader: @unchecked Sendable {
  let reader: DatasetReader
  init(_ reader: DatasetReader) { self.reader = reader }
  func batch(_ rows: [Int], _ task: LabelTask, _ transform: ((Int) -> ImageTransform)?) throws -> Batch? {
    let b = try reader.batch(indices: rows, task: task, transform: transform)
    return Batch(input: b.input, labels: b.labels)
  }
}

private final class ResultBox: @unchecked Sendable {
  private let semaphore = DispatchSemaphore(value: 0)
  private var result: Result<Batch?, any Error> = .success(nil)
  func set(_ value: Result<Batch?, any Error>) { result = value; semaphore.signal() }
  func wait() throws -> Batch? { semaphore.wait(); semaphore.signal(); return try result.get() }
}
