import Foundation
import TandemDistributed
import TandemMPI

// Runs one scenario of TandemMPI under mpirun, for TandemMPITests:
//   collectives  every collective on every scalar type, checked against its closed form
//   throw        rank 1 throws: MPIWorld must end every rank, not leave them waiting
//   agreed       rank 1 fails inside `agree`: rank 0 reports it once, all exit 1
//   stall        rank 1 never reaches an allreduce: rank 0 names it within the timeout

struct ProbeFailure: Error, CustomStringConvertible {
  let description: String
}

func expect(_ condition: Bool, _ what: @autoclosure () -> String) throws {
  if !condition { throw ProbeFailure(description: what()) }
}

let scenario = CommandLine.arguments.dropFirst().first ?? "collectives"
let timeout = scenario == "stall" ? 2.0 : 60
try MPIWorld.run(collectiveTimeout: timeout) { world in
  let rank = world.rank, size = world.worldSize
  switch scenario {
  case "collectives":
    var floats: [Float] = [Float(rank + 1), 0.5]
    try world.allreduce(&floats, .sum)
    try expect(floats == [Float(size * (size + 1) / 2), 0.5 * Float(size)], "Float sum \(floats)")
    var doubles: [Double] = [Double(rank), -Double(rank)]
    try world.allreduce(&doubles, .max)
    try expect(doubles == [Double(size - 1), 0], "Double max \(doubles)")
    var integers: [Int64] = [Int64(rank) << 40, 7]
    try world.allreduce(&integers, .min)
    try expect(integers == [0, 7], "Int64 min \(integers)")
    // Exact sums and maxima big and small: the point-to-point exchange on
    // power-of-two worlds up to 1 MB, MPI's own allreduce beyond and elsewhere.
    for count in [5_123, 200_000] {
      var sums = (0..<count).map { Int64(rank + 1) * Int64($0) * 1_000_003 }
      try world.allreduce(&sums, .sum)
      try expect(sums == (0..<count).map { Int64($0) * 1_000_003 * Int64(size * (size + 1) / 2) }, "Int64 sum of \(count)")
      var peaks = (0..<count).map { Double(($0 + rank) % size) - 0.5 }
      try world.allreduce(&peaks, .max)
      try expect(peaks.allSatisfy { $0 == Double(size - 1) - 0.5 }, "Double max of \(count)")
    }
    var wrapping: [Int64] = [.max, .min]
    try world.allreduce(&wrapping, .sum)
    try expect(wrapping == [Int64.max &* Int64(size), Int64.min &* Int64(size)], "Int64 sums wrap \(wrapping)")
    var halves = [Double](repeating: 0.25 * Double(rank + 1), count: 3)
    try world.allreduce(&halves, .sum)
    try expect(halves == [Double](repeating: 0.25 * Double(size * (size + 1) / 2), count: 3), "Double sum \(halves)")
    var token: [UInt8] = rank == size - 1 ? [42, 43] : [0, 0]
    try world.broadcast(&token, root: size - 1)
    try expect(token == [42, 43], "broadcast \(token)")
    let parts = (0..<size).map { r in [Float(r), Float(r) * 10] }
    let mine = try world.scatter(rank == 0 ? parts : [], count: 2, root: 0)
    try expect(mine == parts[rank], "scatter \(mine)")
    let bytes = try world.broadcast(bytes: rank == 0 ? Array("hello".utf8) : [], root: 0)
    try expect(bytes == Array("hello".utf8), "broadcast bytes \(bytes)")
    try world.barrier()
    print("ok rank \(rank) of \(size)")
  case "throw":
    if rank == 1 { throw ProbeFailure(description: "probe failure") }
    var value: [Float] = [1]
    try world.allreduce(&value, .sum)
  case "agreed":
    try world.agree { if rank == 1 { throw ProbeFailure(description: "bad input on one rank") } }
  case "stall":
    if rank == 1 { Thread.sleep(forTimeInterval: 60) }
    var value: [Float] = [1]
    try world.allreduce(&value, .sum)
  default:
    throw ProbeFailure(description: "unknown scenario \(scenario)")
  }
}
