import Testing
import TandemTraining

@Test(arguments: [
  (samples: 100, batch: 10, ranks: 1), (samples: 100, batch: 10, ranks: 2), (samples: 103, batch: 16, ranks: 3),
  (samples: 7, batch: 64, ranks: 4), (samples: 1000, batch: 64, ranks: 5), (samples: 65, batch: 64, ranks: 2),
])
func ranksCoverEachSampleOfAnEpochExactlyOnce(samples: Int, batch: Int, ranks: Int) {
  let indices = (0..<samples).map { $0 * 3 + 1 }
  let plan = ShardPlan(samples: indices, globalBatch: batch, worldSize: ranks, seed: 9, epoch: 2)
  #expect(plan.stepCount == (samples + batch - 1) / batch)
  var seen: [Int] = []
  for step in 0..<plan.stepCount {
    var global: [Int] = []
    for rank in 0..<ranks {
      let share = plan.samples(rank: rank, step: step)
      // Shares are balanced: sizes differ by at most one.
      #expect(abs(share.count - plan.globalSamples(step: step).count / ranks) <= 1)
      global += share
    }
    #expect(global == Array(plan.globalSamples(step: step)), "shares concatenate to the global batch in order")
    seen += global
  }
  #expect(seen.count == samples)
  #expect(seen.sorted() == indices)
}

@Test func theLastGlobalBatchKeepsTheRemainder() {
  let plan = ShardPlan(samples: Array(0..<130), globalBatch: 64, worldSize: 2, seed: 1, epoch: 0)
  #expect(plan.stepCount == 3)
  #expect(plan.globalSamples(step: 2).count == 2)
  #expect(plan.samples(rank: 0, step: 2).count == 1 && plan.samples(rank: 1, step: 2).count == 1)
  let tiny = ShardPlan(samples: [5], globalBatch: 64, worldSize: 3, seed: 1, epoch: 0)
  #expect(tiny.samples(rank: 0, step: 0).isEmpty && tiny.samples(rank: 2, step: 0) == [5])
}

@Test func thePlanDependsOnSeedAndEpochButNotOnWorldSize() {
  let a = ShardPlan(samples: Array(0..<500), globalBatch: 32, worldSize: 1, seed: 4, epoch: 0)
  let b = ShardPlan(samples: Array(0..<500), globalBatch: 32, worldSize: 4, seed: 4, epoch: 0)
  let c = ShardPlan(samples: Array(0..<500), globalBatch: 32, worldSize: 1, seed: 4, epoch: 1)
  let d = ShardPlan(samples: Array(0..<500), globalBatch: 32, worldSize: 1, seed: 5, epoch: 0)
  #expect(a.order == b.order)
  #expect(a.order != c.order && a.order != d.order)
  #expect(a.order != Array(0..<500))
  #expect(a == ShardPlan(samples: Array(0..<500), globalBatch: 32, worldSize: 1, seed: 4, epoch: 0))
}
