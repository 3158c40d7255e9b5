import CTandemCUDA
import Foundation

/// One rank's GPU: the device of its local rank among those the driver shows
/// (after `CUDA_VISIBLE_DEVICES`), opened with deterministic cuBLAS settings.
public final class CUDADevice: @unchecked Sendable {
  /// What a snapshot records of the GPU: enough to refuse a re-run on another architecture.
  public struct Info: Equatable, Sendable {
    public var name: String
    public var ordinal: Int
    public var visibleDevices: Int
    /// `major.minor`, e.g. `9.0` for H100/H200.
    public var computeCapability: String
    /// The driver's and runtime's CUDA versions (`13.0`) and cuBLAS's (`13.0.2`).
    public var driver: String
    public var runtime: String
    public var cublas: String
    public var memoryBytes: Int
    /// Streaming multiprocessors: cuBLAS may split work differently on another count.
    public var multiprocessors: Int
  }

  public let info: Info
  let backend: CUDABackend
  let context: OpaquePointer

  /// The local rank among the processes of this host, as launchers set it
  /// (Open MPI, Slurm, MPICH, PMIx); 0 when none does.
  public static func localRank(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int {
    for key in ["OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID", "PMIX_LOCAL_RANK"] {
      if let value = environment[key].flatMap(Int.init), value >= 0 { return value }
    }
    return 0
  }

  /// Opens the GPU for `localRank`: device `localRank % visible devices`.
  public static func open(localRank: Int = localRank()) throws(CUDAError) -> CUDADevice {
    let backend = try CUDABackend.shared()
    var count: Int32 = 0
    try CUDABackend.call(CUDAError.noDevice) { backend.deviceCount(&count, $0, $1) }
    guard count > 0 else {
      let visible = ProcessInfo.processInfo.environment["CUDA_VISIBLE_DEVICES"].map { " (CUDA_VISIBLE_DEVICES=\($0))" } ?? ""
      throw .noDevice("the driver shows no GPU\(visible)")
    }
    let ordinal = Int32(localRank % Int(count))
    var handle: OpaquePointer?
    var raw = tandem_cuda_device_info()
    try CUDABackend.call({ .noDevice("device \(ordinal): \($0)") }) { backend.open(ordinal, &handle, &raw, $0, $1) }
    guard let handle else { throw .failed("tandem_cuda_open returned no context") }
    return CUDADevice(backend: backend, context: handle, info: Info(raw))
  }

  private init(backend: CUDABackend, context: OpaquePointer, info: Info) {
    self.backend = backend
    self.context = context
    self.info = info
  }

  deinit { backend.close(context) }

  /// One line for the run's log.
  public var summary: String {
    "\(info.name) (compute capability \(info.computeCapability), \(info.multiprocessors) SMs, driver CUDA \(info.driver), runtime \(info.runtime), cuBLAS \(info.cublas))"
  }
}

extension CUDADevice.Info {
  init(_ raw: tandem_cuda_device_info) {
    var copy = raw
    let name = withUnsafeBytes(of: &copy.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    func cuda(_ v: Int32) -> String { "\(v / 1000).\(v % 1000 / 10)" }
    // cuBLAS reports major·10000 + minor·100 + patch.
    let c = Int(raw.cublas_version)
    self.init(name: name, ordinal: Int(raw.ordinal), visibleDevices: Int(raw.device_count),
              computeCapability: "\(raw.compute_major).\(raw.compute_minor)", driver: cuda(raw.driver_version),
              runtime: cuda(raw.runtime_version), cublas: "\(c / 10000).\(c % 10000 / 100).\(c % 100)",
              memoryBytes: Int(raw.memory_bytes), multiprocessors: Int(raw.multiprocessors))
  }
}
