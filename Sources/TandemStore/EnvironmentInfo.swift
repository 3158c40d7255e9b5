import Foundation
import TandemData
import TandemSystem

/// The machine a run started on, as far as it can change results or speed:
/// the OS and kernel, the CPU and its instruction-set flags (OpenBLAS picks
/// its kernels from them), the BLAS build and thread count, and the MPI and
/// HDF5 libraries.
public struct EnvironmentInfo: Codable, Equatable, Sendable {
  /// `PRETTY_NAME` from /etc/os-release (`Debian GNU/Linux 12 (bookworm)`).
  public var os: String
  /// `uname` release and machine (`6.1.0-18-amd64 x86_64`).
  public var kernel: String
  /// `model name` from /proc/cpuinfo (`Processor` or `CPU part` where absent, as on ARM).
  public var cpuModel: String
  /// The first CPU's `flags` (x86) or `Features` (ARM), sorted.
  public var cpuFlags: [String]
  /// Logical CPUs online.
  public var logicalCPUs: Int
  /// `openblas_get_config()`: version and build options.
  public var openBLASConfig: String
  /// `openblas_get_corename()`: the kernel set chosen for this CPU.
  public var openBLASCore: String
  /// OpenBLAS threads per rank.
  public var blasThreads: Int
  /// The numeric configuration the run computed with (`Numerics.identifier`:
  /// `pinned tandem-fma-chain/1`, or `openblas CORE`); nil in snapshots made
  /// before Tandem pinned its numerics, whose bits followed OpenBLAS's core.
  public var numerics: String?
  /// Which code ran the pinned kernel (`avx512-fma`, `avx2-fma`, `scalar-fmaf`): speed only, never bits.
  public var numericKernel: String?
  /// `MPI_Get_library_version`, or "none" for a run without MPI.
  public var mpiVersion: String
  /// The linked HDF5 library.
  public var hdf5Version: String
  public var hostname: String
  /// The GPU rank 0 trained on (`device = "cuda"`); nil for CPU runs, whose
  /// snapshots therefore read and hash as they did before GPUs.
  public var gpu: GPU?

  /// A GPU as a snapshot records it.
  public struct GPU: Codable, Equatable, Sendable {
    public var name: String
    /// `major.minor`: kernels and cuBLAS may order sums differently on another architecture.
    public var computeCapability: String
    /// CUDA versions of the driver and runtime, and cuBLAS's version.
    public var driver: String
    public var cudaRuntime: String
    public var cublas: String
    /// Streaming multiprocessors: cuBLAS promises its bits for one architecture and SM count.
    public var multiprocessors: Int

    public init(name: String, computeCapability: String, multiprocessors: Int, driver: String, cudaRuntime: String, cublas: String) {
      self.name = name
      self.computeCapability = computeCapability
      self.multiprocessors = multiprocessors
      self.driver = driver
      self.cudaRuntime = cudaRuntime
      self.cublas = cublas
    }

    /// Why a re-run on `here` cannot give the recorded bits, or nil when it
    /// can: the same architecture, SM count and cuBLAS; the driver and runtime are
    /// noted by the caller but do not decide (they do not choose kernels).
    public func refusal(toRerunOn here: GPU?) -> String? {
      guard let here else {
        return "the snapshot trained on a GPU (\(name), compute capability \(computeCapability)) and this re-run has none: "
          + "run it where the CUDA backend and a GPU of that architecture are"
      }
      if here.computeCapability != computeCapability {
        return "the snapshot trained on \(name) (compute capability \(computeCapability)); this GPU is \(here.name) "
          + "(\(here.computeCapability)), whose kernels and cuBLAS may sum in another order: re-run on compute capability \(computeCapability)"
      }
      if here.multiprocessors != multiprocessors {
        return "the snapshot trained on \(name) with \(multiprocessors) SMs; this GPU (\(here.name)) has \(here.multiprocessors), "
          + "and cuBLAS may split products differently on another count (a MIG slice counts too): re-run on \(multiprocessors) SMs"
      }
      if here.cublas != cublas {
        return "the snapshot used cuBLAS \(cublas), this machine has \(here.cublas): another cuBLAS may choose other kernels; "
          + "re-run with cuBLAS \(cublas)"
      }
      return nil
    }
  }

  public init(os: String, kernel: String, cpuModel: String, cpuFlags: [String], logicalCPUs: Int,
              openBLASConfig: String, openBLASCore: String, blasThreads: Int, numerics: String? = nil,
              numericKernel: String? = nil, mpiVersion: String, hdf5Version: String, hostname: String) {
    self.os = os
    self.kernel = kernel
    self.cpuModel = cpuModel
    self.cpuFlags = cpuFlags.sorted()
    self.logicalCPUs = logicalCPUs
    self.openBLASConfig = openBLASConfig
    self.openBLASCore = openBLASCore
    self.blasThreads = blasThreads
    self.numerics = numerics
    self.numericKernel = numericKernel
    self.mpiVersion = mpiVersion
    self.hdf5Version = hdf5Version
    self.hostname = hostname
  }

  /// This machine, with the BLAS and MPI facts supplied by the caller (only
  /// TandemTensor and TandemMPI may ask those libraries). Unreadable system
  /// files give "unknown" rather than an error: a snapshot should never stop a run.
  public static func current(blasConfig: String, blasCore: String, blasThreads: Int,
                             numerics: String? = nil, numericKernel: String? = nil,
                             mpiVersion: String) -> EnvironmentInfo {
    let cpu = cpuInfo(text: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")
    let (release, machine, node) = SystemProcess.kernel()
    let kernel = "\(release) \(machine)"
    return EnvironmentInfo(
      os: osName(text: (try? String(contentsOfFile: "/etc/os-release", encoding: .utf8)) ?? ""),
      kernel: kernel, cpuModel: cpu.model, cpuFlags: cpu.flags,
      logicalCPUs: ProcessInfo.processInfo.activeProcessorCount,
      openBLASConfig: blasConfig, openBLASCore: blasCore, blasThreads: blasThreads,
      numerics: numerics, numericKernel: numericKernel, mpiVersion: mpiVersion.trimmingCharacters(in: .whitespacesAndNewlines),
      hdf5Version: HDF5Library.version, hostname: node)
  }

  /// `PRETTY_NAME` (else `NAME VERSION_ID`) from an os-release file's text.
  public static func osName(text: String) -> String {
    var values: [String: String] = [:]
    for line in text.split(separator: "\n") {
      guard let eq = line.firstIndex(of: "=") else { continue }
      var value = String(line[line.index(after: eq)...])
      if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
        value = String(value.dropFirst().dropLast())
      }
      values[String(line[..<eq])] = value
    }
    if let pretty = values["PRETTY_NAME"], !pretty.isEmpty { return pretty }
    let parts = [values["NAME"], values["VERSION_ID"]].compactMap { $0 }
    return parts.isEmpty ? "unknown" : parts.joined(separator: " ")
  }

  /// Model and sorted flags of the first processor in /proc/cpuinfo's text.
  public static func cpuInfo(text: String) -> (model: String, flags: [String]) {
    var model: String?
    var fallbackModel: String?
    var flags: [String]?
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      guard let colon = line.firstIndex(of: ":") else { continue }
      let key = line[..<colon].trimmingCharacters(in: .whitespaces)
      let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
      switch key {
      case "model name": if model == nil { model = value }
      case "Processor", "CPU part": if fallbackModel == nil { fallbackModel = value }
      case "flags", "Features": if flags == nil { flags = value.split(separator: " ").map(String.init) }
      default: break
      }
    }
    return (model ?? fallbackModel ?? "unknown", (flags ?? []).sorted())
  }

  public var canonicalValue: CanonicalJSON {
    var fields: [String: CanonicalJSON] = [
      "os": .string(os), "kernel": .string(kernel), "cpuModel": .string(cpuModel),
      "cpuFlags": .array(cpuFlags.sorted().map { .string($0) }), "logicalCPUs": .integer(Int64(logicalCPUs)),
      "openBLASConfig": .string(openBLASConfig), "openBLASCore": .string(openBLASCore),
      "blasThreads": .integer(Int64(blasThreads)), "mpiVersion": .string(mpiVersion),
      "hdf5Version": .string(hdf5Version), "hostname": .string(hostname),
    ]
    if let numerics { fields["numerics"] = .string(numerics) }
    if let numericKernel { fields["numericKernel"] = .string(numericKernel) }
    if let gpu {
      fields["gpu"] = .object([
        "name": .string(gpu.name), "computeCapability": .string(gpu.computeCapability),
        "multiprocessors": .integer(Int64(gpu.multiprocessors)), "driver": .string(gpu.driver),
        "cudaRuntime": .string(gpu.cudaRuntime), "cublas": .string(gpu.cublas),
      ])
    }
    return .object(fields)
  }
}
