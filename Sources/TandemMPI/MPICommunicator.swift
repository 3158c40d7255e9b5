import CMPI
import Foundation
import TandemDistributed
import TandemTensor

/// `MPI_COMM_WORLD` as a `Communicator`. Created only by `MPIWorld.run`.
///
/// Every collective is bounded in time. It is started non-blocking and polled
/// until it completes or `collectiveTimeout` passes. Before each collective a
/// rank announces its arrival to rank 0 with a small non-blocking message, so
/// when a collective stalls, rank 0 can name the ranks that never arrived (a
/// stuck or hung process) in its report before it aborts the job. The other
/// ranks wait a grace period longer, so the coordinator's report comes first;
/// if rank 0 is itself the straggler, they report that instead.
public final class MPICommunicator: Communicator {
  public let rank: Int
  public let worldSize: Int
  /// Seconds a collective may take before the job is aborted with a stall report.
  public var collectiveTimeout: Double
  /// What the job is doing, for stall reports (e.g. "epoch 2 step 17").
  public var phase = "start-up"
  /// Whether this process was asked to stop (SIGTERM, SIGINT). A rank asked
  /// to stop that has waited `stopWaitSeconds` in one collective will not see
  /// its peers again (they died, or the network is gone): it exits at once
  /// instead of holding the launcher's kill sequence up until its timeout.
  public var stopRequested: () -> Bool = { false }
  public static let stopWaitSeconds = 10.0
  private let comm: MPI_Comm
  private var sequence: Int64 = 0
  /// Rank 0: the last collective each rank announced.
  private var arrivals: [Int64]
  /// Each rank's host (`MPI_Get_processor_name`), gathered at start-up, so a
  /// stall report names the machine as well as the rank.
  public private(set) var hostNames: [String] = []
  /// Non-root: announcement sends still in flight, with their buffers.
  private var pendingAnnouncements: [(MPI_Request?, UnsafeMutablePointer<Int64>)] = []
  private static let arrivalTag: Int32 = 7_001
  /// Rank 0's "are you there?" to each rank when a collective stalls with
  /// every rank arrived: a synchronous send that completes only when the
  /// rank, polling in its own wait, takes it, which a rank cut off the
  /// network cannot.
  private static let probeTag: Int32 = 7_002
  private static let probeSeconds = 3.0
  private static let graceSeconds = 5.0

  init(collectiveTimeout: Double) throws(MPIError) {
    comm = CMPI_comm_world()
    self.collectiveTimeout = collectiveTimeout
    try check(MPI_Comm_set_errhandler(comm, CMPI_errors_return()), "MPI_Comm_set_errhandler")
    var r: Int32 = 0, s: Int32 = 0
    try check(MPI_Comm_rank(comm, &r), "MPI_Comm_rank")
    try check(MPI_Comm_size(comm, &s), "MPI_Comm_size")
    rank = Int(r)
    worldSize = Int(s)
    arrivals = Array(repeating: 0, count: Int(s))
    // Blocking, once: every rank is here anyway, before any timed collective.
    let width = Int(CMPI_max_processor_name()) + 1
    var mine = [CChar](repeating: 0, count: width)
    var length: Int32 = 0
    MPI_Get_processor_name(&mine, &length)
    var all = [CChar](repeating: 0, count: width * worldSize)
    try check(MPI_Allgather(&mine, Int32(width), CMPI_char(), &all, Int32(width), CMPI_char(), comm), "MPI_Allgather")
    hostNames = (0..<worldSize).map { k in
      String(decoding: all[k * width..<(k + 1) * width].prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
  }

  /// `rank 2 (host h2)`, as reports name a rank.
  public func describe(rank r: Int) -> String {
    r < hostNames.count && !hostNames[r].isEmpty ? "rank \(r) (host \(hostNames[r]))" : "rank \(r)"
  }

  deinit {
    for (_, buffer) in pendingAnnouncements { buffer.deallocate() }
    exchangeScratch?.deallocate()
  }

  /// This rank's host name. The corresponding C function is `MPI_Get_processor_name`.
  public var processorName: String {
    var text = [CChar](repeating: 0, count: Int(CMPI_max_processor_name()) + 1)
    var length: Int32 = 0
    MPI_Get_processor_name(&text, &length)
    return String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// The MPI library's version string. The corresponding C function is `MPI_Get_library_version`.
  public static var libraryVersion: String {
    var text = [CChar](repeating: 0, count: 8192)
    var length: Int32 = 0
    MPI_Get_library_version(&text, &length)
    let full = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return full.split(separator: ",").first.map(String.init) ?? full
  }

  /// The corresponding C function is `MPI_Iallreduce` (in place), except
  /// where `exchanges` says a point-to-point exchange gives the same bits.
  public func allreduce<T: CollectiveScalar>(_ buffer: inout [T], _ operation: ReduceOperation) throws {
    if exchanges(T.self, operation, count: buffer.count) {
      try exchangeAllreduce(&buffer, operation)
      return
    }
    let count = Int32(buffer.count)
    let type = Self.datatype(T.self), op = Self.op(operation)
    try collective("MPI_Allreduce") { request in
      buffer.withUnsafeMutableBytes { bytes in
        MPI_Iallreduce(CMPI_in_place(), bytes.baseAddress, count, type, op, comm, &request)
      }
    } wait: { request in
      try buffer.withUnsafeMutableBytes { _ in try self.wait(&request, "MPI_Allreduce") }
    }
  }

  /// The corresponding C function is `MPI_Ibcast`.
  public func broadcast<T: CollectiveScalar>(_ buffer: inout [T], root: Int) throws {
    invariant(root >= 0 && root < worldSize, "broadcast root \(root) outside 0..<\(worldSize)")
    let count = Int32(buffer.count)
    let type = Self.datatype(T.self)
    try collective("MPI_Bcast") { request in
      buffer.withUnsafeMutableBytes { bytes in
        MPI_Ibcast(bytes.baseAddress, count, type, Int32(root), comm, &request)
      }
    } wait: { request in
      try buffer.withUnsafeMutableBytes { _ in try self.wait(&request, "MPI_Bcast") }
    }
  }

  /// The corresponding C function is `MPI_Iscatterv`.
  public func scatter<T: CollectiveScalar>(_ parts: [[T]], count: Int, root: Int) throws -> [T] {
    invariant(root >= 0 && root < worldSize, "scatter root \(root) outside 0..<\(worldSize)")
    let type = Self.datatype(T.self)
    var send: [T] = []
    var counts = [Int32](repeating: 0, count: worldSize), displacements = counts
    if rank == root {
      invariant(parts.count == worldSize, "scatter root has \(parts.count) parts for \(worldSize) ranks")
      var offset: Int32 = 0
      for (r, part) in parts.enumerated() {
        counts[r] = Int32(part.count)
        displacements[r] = offset
        offset += Int32(part.count)
      }
      send = parts.flatMap { $0 }
      invariant(parts[root].count == count, "scatter: root's own part has \(parts[root].count), expected \(count)")
    }
    var received = [T](repeating: .zero, count: count)
    try collective("MPI_Scatterv") { request in
      send.withUnsafeBytes { s in
        received.withUnsafeMutableBytes { r in
          MPI_Iscatterv(s.baseAddress, counts, displacements, type, r.baseAddress, Int32(count), type,
                        Int32(root), comm, &request)
        }
      }
    } wait: { request in
      try send.withUnsafeBytes { _ in try received.withUnsafeMutableBytes { _ in try self.wait(&request, "MPI_Scatterv") } }
    }
    return received
  }

  /// The corresponding C function is `MPI_Ibarrier`.
  public func barrier() throws {
    try collective("MPI_Barrier") { request in MPI_Ibarrier(comm, &request) } wait: { try self.wait(&$0, "MPI_Barrier") }
  }

  /// Ends every rank of the job. The corresponding C function is `MPI_Abort`.
  public func abort(code: Int32) -> Never {
    MPI_Abort(comm, code)
    _exit(code)
  }

  // MARK: - Allreduce by exchange

  /// Open MPI's non-blocking allreduce costs 21 us for the exact reduction's
  /// 41 KB of churn-mlp sums between two ranks of one host, where a plain
  /// exchange and a local sum cost 6 (Scripts/bench-peers.sh's machine). So
  /// allreduce exchanges by recursive doubling where that gives the same
  /// bits as any MPI algorithm: on two ranks (one commutative combination),
  /// and on a power-of-two world for maxima, minima and exact (integer) sums
  /// up to `exchangeLimitBytes`, beyond which MPI's bandwidth-saving
  /// algorithms win. Floating-point sums on more than two ranks stay with MPI,
  /// whose grouping a run of the float reduction has always had.
  private static let exchangeLimitBytes = 1 << 20
  private static let exchangeTag: Int32 = 7_003
  private var exchangeScratch: UnsafeMutableRawPointer?
  private var exchangeScratchBytes = 0

  private func exchanges<T: CollectiveScalar>(_ type: T.Type, _ operation: ReduceOperation, count: Int) -> Bool {
    guard worldSize > 1, worldSize & (worldSize - 1) == 0, count > 0 else { return false }
    if worldSize == 2 { return true }
    return (operation != .sum || T.sumIsExact) && count * MemoryLayout<T>.stride <= Self.exchangeLimitBytes
  }

  /// Recursive doubling: at the stage of `mask`, each rank swaps its partial
  /// result with rank `rank ^ mask` and combines the two, the lower ranks'
  /// part first, so both partners hold the same bits after every stage.
  // Callers hold `any Communicator`, so without these the combining loop
  // runs unspecialised: 100 us for those 41 KB.
  @_specialize(where T == Int64)
  @_specialize(where T == Double)
  @_specialize(where T == Float)
  @_specialize(where T == UInt8)
  private func exchangeAllreduce<T: CollectiveScalar>(_ buffer: inout [T], _ operation: ReduceOperation) throws {
    sequence += 1
    try announceArrival()
    let count = buffer.count, bytes = count * MemoryLayout<T>.stride
    if exchangeScratchBytes < bytes {
      exchangeScratch?.deallocate()
      exchangeScratch = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
      exchangeScratchBytes = bytes
    }
    let incoming = exchangeScratch!.bindMemory(to: T.self, capacity: count)
    let type = Self.datatype(T.self)
    try buffer.withUnsafeMutableBufferPointer { mine in
      var mask = 1
      while mask < worldSize {
        let partner = rank ^ mask
        var requests: [MPI_Request?] = [CMPI_request_null(), CMPI_request_null()]
        try check(MPI_Irecv(incoming, Int32(count), type, Int32(partner), Self.exchangeTag, comm, &requests[0]), "MPI_Irecv")
        try check(MPI_Isend(mine.baseAddress, Int32(count), type, Int32(partner), Self.exchangeTag, comm, &requests[1]), "MPI_Isend")
        try waitAll(&requests, "MPI_Allreduce")
        let lowerFirst = rank < partner
        for i in 0..<count {
          let (low, high) = lowerFirst ? (mine[i], incoming[i]) : (incoming[i], mine[i])
          switch operation {
          case .sum: mine[i] = T.collectiveSum(low, high)
          case .max: mine[i] = Swift.max(low, high)
          case .min: mine[i] = Swift.min(low, high)
          }
        }
        mask <<= 1
      }
    }
  }

  // MARK: - Bounded collectives

  private func collective(_ name: String, start: (inout MPI_Request?) -> Int32,
                          wait: (inout MPI_Request?) throws -> Void) throws {
    sequence += 1
    try announceArrival()
    var request: MPI_Request? = CMPI_request_null()
    try check(start(&request), name)
    try wait(&request)
  }

  private func announceArrival() throws {
    if rank == 0 {
      arrivals[0] = sequence
      try drainArrivals()
      return
    }
    // Reap finished announcements, then send this one.
    var stillPending: [(MPI_Request?, UnsafeMutablePointer<Int64>)] = []
    for (pending, buffer) in pendingAnnouncements {
      var request = pending
      var done: Int32 = 0
      try check(MPI_Test(&request, &done, CMPI_status_ignore()), "MPI_Test")
      if done != 0 { buffer.deallocate() } else { stillPending.append((request, buffer)) }
    }
    pendingAnnouncements = stillPending
    let buffer = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
    buffer.pointee = sequence
    var request: MPI_Request? = CMPI_request_null()
    try check(MPI_Isend(buffer, 1, CMPI_int64(), 0, Self.arrivalTag, comm, &request), "MPI_Isend")
    pendingAnnouncements.append((request, buffer))
  }

  /// Rank 0: records every announcement that has arrived so far.
  private func answerProbes() throws {
    var flag: Int32 = 0
    var status = MPI_Status()
    try check(MPI_Iprobe(0, Self.probeTag, comm, &flag, &status), "MPI_Iprobe")
    guard flag != 0 else { return }
    var byte: UInt8 = 0
    try check(MPI_Recv(&byte, 1, CMPI_uint8(), 0, Self.probeTag, comm, CMPI_status_ignore()), "MPI_Recv")
  }

  /// Rank 0: the ranks that do not take a probe within `probeSeconds`.
  private func unreachableRanks() -> [Int] {
    var requests = [MPI_Request?](repeating: nil, count: worldSize)
    var byte: UInt8 = 1
    for r in 1..<worldSize {
      guard MPI_Issend(&byte, 1, CMPI_uint8(), Int32(r), Self.probeTag, comm, &requests[r]) == MPI_SUCCESS else { return [] }
    }
    var answered = [Bool](repeating: false, count: worldSize)
    answered[0] = true
    let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(Self.probeSeconds * 1e9)
    while answered.contains(false) && DispatchTime.now().uptimeNanoseconds < deadline {
      for r in 1..<worldSize where !answered[r] {
        var done: Int32 = 0
        if MPI_Test(&requests[r], &done, CMPI_status_ignore()) == MPI_SUCCESS && done != 0 { answered[r] = true }
      }
      usleep(1000)
    }
    return answered.indices.filter { !answered[$0] }
  }

  private func drainArrivals() throws {
    while true {
      var flag: Int32 = 0
      var status = MPI_Status()
      try check(MPI_Iprobe(CMPI_any_source(), Self.arrivalTag, comm, &flag, &status), "MPI_Iprobe")
      if flag == 0 { return }
      var value: Int64 = 0
      try check(MPI_Recv(&value, 1, CMPI_int64(), status.MPI_SOURCE, Self.arrivalTag, comm, CMPI_status_ignore()), "MPI_Recv")
      let source = Int(status.MPI_SOURCE)
      arrivals[source] = max(arrivals[source], value)
    }
  }

  private func wait(_ request: inout MPI_Request?, _ name: String) throws {
    try wait(name) {
      var done: Int32 = 0
      try check(MPI_Test(&request, &done, CMPI_status_ignore()), name)
      return done != 0
    }
  }

  private func waitAll(_ requests: inout [MPI_Request?], _ name: String) throws {
    try wait(name) {
      var done: Int32 = 0
      try check(MPI_Testall(Int32(requests.count), &requests, &done, CMPI_statuses_ignore()), name)
      return done != 0
    }
  }

  /// Polls `completed` until it says so, bounded by `collectiveTimeout`.
  private func wait(_ name: String, until completed: () throws -> Bool) throws {
    let start = DispatchTime.now().uptimeNanoseconds
    let limit = collectiveTimeout + (rank == 0 ? 0 : Self.graceSeconds)
    var polls = 0
    while true {
      if try completed() { return }
      polls += 1
      // Non-blocking collectives progress only while ranks call into MPI, so
      // a rank asleep in usleep holds up every round of the algorithm for
      // its partners: spin for the first 2 ms (a rank has its own core by
      // default), then yield, and only after 50 ms sleep, so a long wait
      // (a straggler, an oversubscribed test) does not burn a core.
      if polls % 64 == 0 {
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if elapsed > limit { stalled(name, after: elapsed) }
        if rank != 0 && elapsed > collectiveTimeout / 2 { try answerProbes() }
        if elapsed > Self.stopWaitSeconds && stopRequested() {
          FileHandle.standardError.write(Data(("tandem: rank \(rank): asked to stop while \(name) #\(sequence) (\(phase)) waited "
            + "\(Int(elapsed)) s for the other ranks; they are gone, so it exits now\n").utf8))
          _exit(1)
        }
        if elapsed > 0.05 { usleep(500) } else if elapsed > 0.002 { sched_yield() }
      }
    }
  }

  private func stalled(_ name: String, after seconds: Double) -> Never {
    let what = "\(name) #\(sequence) (\(phase))"
    var report: String
    if rank == 0 {
      try? drainArrivals()
      let missing = arrivals.indices.filter { arrivals[$0] < sequence }
      report = "tandem: stall: \(what) waited \(Int(seconds)) s (limit \(Int(collectiveTimeout)) s); "
      if !missing.isEmpty {
        report += "\(missing.map { describe(rank: $0) }.joined(separator: ", ")) did not arrive (hung, dead, or unreachable over the network)"
      } else {
        let silent = worldSize > 1 ? unreachableRanks() : []
        report += silent.isEmpty
          ? "every rank arrived and answers, so the transport itself is stuck"
          : "every rank arrived, but \(silent.map { describe(rank: $0) }.joined(separator: ", ")) no longer answers: "
            + "unreachable over the network (a link or host down)"
      }
    } else {
      report = "tandem: stall: rank \(rank): \(what) waited \(Int(seconds)) s and rank 0 did not report; "
        + "rank 0 (the coordinator) is the likely straggler"
    }
    FileHandle.standardError.write(Data((report + "\n").utf8))
    abort(code: 3)
  }

  private static func datatype<T>(_ type: T.Type) -> MPI_Datatype {
    switch type {
    case is Float.Type: return CMPI_float()
    case is Double.Type: return CMPI_double()
    case is Int64.Type: return CMPI_int64()
    case is UInt8.Type: return CMPI_uint8()
    default: fatalError("no MPI datatype for \(type)")
    }
  }

  private static func op(_ operation: ReduceOperation) -> MPI_Op {
    switch operation {
    case .sum: return CMPI_sum()
    case .max: return CMPI_max()
    case .min: return CMPI_min()
    }
  }
}
