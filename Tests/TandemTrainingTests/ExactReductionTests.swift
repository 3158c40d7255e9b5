import Testing
import TandemDistributed
import TandemNN
import TandemTensor
import TandemTestSupport
import TandemTraining
import TandemRun

/// Trains `steps` steps of `name` on `worldSize` thread-ranks with exact
/// reduction and returns rank 0's final parameters (all ranks must agree).
func exactTraining(_ name: ModelName, worldSize: Int, steps: Int, data: Batch, globalBatch: Int,
                   microBatch: Int, imageSize: Int = 16) throws -> [[Float]] {
  let results = try LocalWorld.run(worldSize: worldSize) { comm in
    let model = try Model.reference(name, features: 10, imageSize: imageSize, seed: 5)
    let trainer = Trainer(model: model, settings: TrainingSettings(globalBatch: globalBatch, learningRate: 0.05),
                          communicator: comm)
    var step = 0
    var epoch = 0
    while step < steps {
      let plan = ShardPlan(samples: Array(0..<data.count), globalBatch: globalBatch, worldSize: comm.worldSize,
                           seed: 3, epoch: epoch)
      for s in 0..<plan.stepCount where step < steps {
        let share = Array(plan.samples(rank: comm.rank, step: s, microBatch: microBatch))
        let mine = share.map { data.rows($0..<$0 + 1) }
        let batch = mine.isEmpty ? nil : Batch(input: Tensor(uncheckedShape: [share.count] + data.input.shape.dropFirst(),
                                                             scalars: mine.flatMap(\.input.scalars)),
                                               labels: mine.flatMap(\.labels))
        _ = try trainer.exactStep(batch?.split(every: microBatch) ?? [], globalCount: plan.globalSamples(step: s).count)
        step += 1
      }
      epoch += 1
    }
    return model.parameters.map(\.value.scalars)
  }
  for r in results.dropFirst() { #expect(r == results[0], "ranks disagree") }
  return results[0]
}

/// The same global batches, micro-batches and seed give the very same bits on
/// 1, 2, 3 and 4 ranks, including a last global batch that is not full.
@Test func exactReductionGivesIdenticalBitsOnAnyNumberOfRanks() throws {
  let rows = SyntheticData.separableRows(count: 200, features: 10, seed: 1)   // 200 = 3·64 + 8
  let one = try exactTraining(.churnMLP, worldSize: 1, steps: 12, data: rows, globalBatch: 64, microBatch: 16)
  for n in [2, 3, 4] {
    #expect(try exactTraining(.churnMLP, worldSize: n, steps: 12, data: rows, globalBatch: 64, microBatch: 16) == one,
            "churn-mlp on \(n) ranks")
  }
  let images = SyntheticData.images(count: 24, size: 16, seed: 2)
  let cnn = try exactTraining(.xrayCNN, worldSize: 1, steps: 4, data: images, globalBatch: 16, microBatch: 4)
  #expect(try exactTraining(.xrayCNN, worldSize: 2, steps: 4, data: images, globalBatch: 16, microBatch: 4) == cnn)
  #expect(try exactTraining(.xrayCNN, worldSize: 4, steps: 4, data: images, globalBatch: 16, microBatch: 4) == cnn)
}

/// Exact reduction agrees with plain Float summation to rounding: it changes
/// how the sum is taken, not what is summed.
@Test func exactReductionAgreesWithFloatSummation() throws {
  let rows = SyntheticData.separableRows(count: 64, features: 10, seed: 4)
  let a = try Model.reference(.churnMLP, features: 10, seed: 6), b = try Model.reference(.churnMLP, features: 10, seed: 6)
  let settings = TrainingSettings(globalBatch: 64, learningRate: 0.05)
  let exact = Trainer(model: a, settings: settings), plain = Trainer(model: b, settings: settings)
  _ = try exact.exactStep(rows.split(every: 16), globalCount: 64)
  _ = try plain.step(rows)
  for (p, q) in zip(a.parameters, b.parameters) {
    for (x, y) in zip(p.value.scalars, q.value.scalars) { #expect(abs(x - y) <= 1e-6 * max(1, abs(y))) }
  }
}

@Test func partitionedSharesAreWholeMicroBatches() {
  let plan = ShardPlan(samples: Array(0..<70), globalBatch: 64, worldSize: 3, seed: 1, epoch: 0)
  // 64 samples in micro-batches of 16: 4 micro-batches over 3 ranks → 1, 1, 2.
  #expect((0..<3).map { plan.samples(rank: $0, step: 0, microBatch: 16).count } == [16, 16, 32])
  // The last global batch (6 samples) is one short micro-batch: rank 2 gets it.
  #expect((0..<3).map { plan.samples(rank: $0, step: 1, microBatch: 16).count } == [0, 0, 6])
  var all: [Int] = []
  for r in 0..<3 { all += plan.samples(rank: r, step: 0, microBatch: 16) }
  #expect(all == Array(plan.globalSamples(step: 0)))
}
