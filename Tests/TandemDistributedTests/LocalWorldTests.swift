import Foundation
import Testing
import TandemDistributed
import TandemNN
import TandemTensor
import TandemTestSupport

@Test(arguments: [1, 2, 3, 4])
func allreduceGivesTheSameExactSumOnEveryRank(worldSize: Int) throws {
  let results = try LocalWorld.run(worldSize: worldSize) { comm in
    var values = (0..<1000).map { Float($0 * (comm.rank + 1)) }
    try comm.allreduce(&values, .sum)
    var peak = [Double(comm.rank)]
    try comm.allreduce(&peak, .max)
    return (values, peak[0])
  }
  let factor = Float(worldSize * (worldSize + 1) / 2)
  for (values, peak) in results {
    #expect(values == (0..<1000).map { Float($0) * factor })
    #expect(peak == Double(worldSize - 1))
  }
}

@Test func broadcastCopiesTheRootsBuffer() throws {
  let results = try LocalWorld.run(worldSize: 3) { comm in
    var values: [Int64] = comm.rank == 1 ? [7, 8, 9] : [0, 0, 0]
    try comm.broadcast(&values, root: 1)
    let bytes = try comm.broadcast(bytes: comm.rank == 0 ? Array("plan".utf8) : [], root: 0)
    return (values, String(decoding: bytes, as: UTF8.self))
  }
  for (values, text) in results {
    #expect(values == [7, 8, 9])
    #expect(text == "plan")
  }
}

struct Boom: Error, CustomStringConvertible { var description: String { "disk on fire" } }

@Test func aRankThatFailsReleasesTheOthersInsteadOfHanging() {
  let start = ContinuousClock.now
  #expect(throws: Boom.self) {
    _ = try LocalWorld.run(worldSize: 3, timeout: 30) { comm in
      if comm.rank == 2 { throw Boom() }
      var x: [Float] = [1]
      try comm.allreduce(&x, .sum)   // ranks 0 and 1 wait here for rank 2
      return x
    }
  }
  #expect(ContinuousClock.now - start < .seconds(5))
}

@Test func aStalledCollectiveTimesOutNamingTheMissingRank() {
  do {
    _ = try LocalWorld.run(worldSize: 2, timeout: 0.3) { comm in
      // Far past the time-out, so a busy machine cannot make rank 1 arrive in time.
      if comm.rank == 1 { Thread.sleep(forTimeInterval: 3.0); return 0 }
      try comm.barrier()
      return 0
    }
    Issue.record("expected a time-out")
  } catch let error as CommunicatorError {
    #expect(error == .timedOut(operation: "barrier", seconds: 0.3, missing: [1]))
  } catch {
    Issue.record("unexpected \(error)")
  }
}

/// The gradient of a batch split across N ranks and summed with one fused
/// allreduce equals the gradient of the whole batch in one process.
@Test(arguments: [1, 2, 3, 4])
func fusedGradientsOnNRanksEqualSingleProcess(worldSize: Int) throws {
  let batch = 12
  let x = randomTensor([batch, 10], seed: 1)
  let labels: [Int32] = (0..<batch).map { Int32($0 % 2) }
  let single = try Model.reference(.churnMLP, features: 10, seed: 2)
  try single.accumulateGradients(x, labels: labels)
  let reference = single.parameters.map(\.gradient.scalars)

  let perRank = try LocalWorld.run(worldSize: worldSize) { comm in
    let model = try Model.reference(.churnMLP, features: 10, seed: 2)
    let rows = batch / comm.worldSize
    let mine = comm.rank * rows..<(comm.rank + 1) * rows
    let part = Tensor(uncheckedShape: [rows, 10], scalars: Array(x.scalars[mine.lowerBound * 10..<mine.upperBound * 10]))
    try model.accumulateGradients(part, labels: Array(labels[mine]), normalizer: batch)
    var fusion = GradientFusion()
    try fusion.sumGradients(of: model.parameters, over: comm)
    return model.parameters.map(\.gradient.scalars)
  }
  for gradients in perRank {
    for (g, r) in zip(gradients, reference) {
      for (a, b) in zip(g, r) { #expect(abs(a - b) <= 1e-6 + 1e-5 * abs(b)) }
    }
  }
}

/// A NaN in one rank's gradient must stop every rank with the divergence
/// error, not trap converting it to fixed point (`max` drops a NaN, so it
/// used to pass the finiteness check).
@Test(arguments: [Float.nan, .infinity, -.infinity])
func aNonFiniteGradientOnOneRankStopsEveryRankWithTheDivergenceError(bad: Float) throws {
  let outcomes = try LocalWorld.run(worldSize: 2) { comm -> String in
    let model = try Model.reference(.churnMLP, features: 4, seed: 1)
    var reducer = ExactReducer()
    reducer.begin(parameterCount: model.parameterCount)
    if comm.rank == 1 { model.parameters[2].gradient.scalars[3] = bad }
    reducer.add(model.parameters)
    do {
      _ = try reducer.reduce(into: model.parameters, loss: 0, over: comm)
      return "reduced"
    } catch let error as ExactReductionError {
      return error.description
    }
  }
  #expect(outcomes.allSatisfy { $0.contains("not finite") }, "\(outcomes)")
}
