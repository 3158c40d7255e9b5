import CTandemCUDA
import Foundation

/// Why `device = "cuda"` cannot be used here, in words a user can act on.
public enum CUDAError: Error, Equatable, CustomStringConvertible {
  /// No libtandem_cuda.so where Tandem looks.
  case backendMissing(searched: [String])
  /// The library is there but cannot be opened (a missing libcublas, another ABI).
  case backendUnusable(path: String, reason: String)
  /// The backend loaded, but the driver shows no usable GPU.
  case noDevice(String)
  /// The model has a layer or loss the backend does not implement.
  case unsupported(String)
  /// A backend call failed.
  case failed(String)

  public var description: String {
    switch self {
    case .backendMissing(let searched):
      return "device = \"cuda\" but the CUDA backend is not installed: no libtandem_cuda.so in "
        + searched.joined(separator: ", ") + " (build it with Scripts/build-cuda.sh where a CUDA toolkit is installed, "
        + "or set TANDEM_CUDA_LIBRARY; docs/cuda.md)"
    case .backendUnusable(let path, let reason):
      return "device = \"cuda\" but the CUDA backend \(path) cannot be used: \(reason)"
    case .noDevice(let reason):
      return "device = \"cuda\" but this machine has no usable GPU: \(reason)"
    case .unsupported(let what):
      return "device = \"cuda\": \(what)"
    case .failed(let what):
      return "CUDA backend: \(what)"
    }
  }
}

/// libtandem_cuda.so, opened once per process and never closed (its kernels
/// and the CUDA runtime stay loaded while any device is open).
final class CUDABackend: @unchecked Sendable {
  typealias ErrorBuffer = UnsafeMutablePointer<CChar>
  typealias DeviceCount = @convention(c) (UnsafeMutablePointer<Int32>, ErrorBuffer?, Int) -> Int32
  typealias Open = @convention(c) (Int32, UnsafeMutablePointer<OpaquePointer?>, UnsafeMutablePointer<tandem_cuda_device_info>?,
                                   ErrorBuffer?, Int) -> Int32
  typealias Close = @convention(c) (OpaquePointer?) -> Void
  typealias ModelCreate = @convention(c) (OpaquePointer?, UnsafePointer<tandem_cuda_layer>, Int32, UnsafePointer<Int32>, Int32,
                                          Int32, Int32, UnsafePointer<Float>?, UnsafeMutablePointer<OpaquePointer?>,
                                          ErrorBuffer?, Int) -> Int32
  typealias ModelDestroy = @convention(c) (OpaquePointer?) -> Void
  typealias ParameterCount = @convention(c) (OpaquePointer?) -> Int
  typealias SetParameters = @convention(c) (OpaquePointer?, UnsafePointer<Float>, ErrorBuffer?, Int) -> Int32
  typealias Forward = @convention(c) (OpaquePointer?, UnsafePointer<Float>, Int32, UnsafeMutablePointer<Float>, ErrorBuffer?, Int) -> Int32
  typealias Gradients = @convention(c) (OpaquePointer?, UnsafePointer<Float>, UnsafePointer<Int32>, Int32, Int32,
                                        UnsafeMutablePointer<Double>, UnsafeMutablePointer<Float>, ErrorBuffer?, Int) -> Int32

  let path: String
  let deviceCount: DeviceCount
  let open: Open
  let close: Close
  let modelCreate: ModelCreate
  let modelDestroy: ModelDestroy
  let parameterCount: ParameterCount
  let setParameters: SetParameters
  let forward: Forward
  let gradients: Gradients

  /// Where Tandem looks, in order: `TANDEM_CUDA_LIBRARY` alone when set, else
  /// beside the executable, then `../lib` and `../lib/tandem` from it.
  static func candidates(environment: [String: String], executable: String) -> [String] {
    if let explicit = environment["TANDEM_CUDA_LIBRARY"], !explicit.isEmpty { return [explicit] }
    let directory = (executable as NSString).deletingLastPathComponent
    return [directory, directory + "/../lib", directory + "/../lib/tandem"].map {
      URL(fileURLWithPath: $0 + "/libtandem_cuda.so").standardizedFileURL.path
    }
  }

  private static let lock = NSLock()
  nonisolated(unsafe) private static var loaded: Result<CUDABackend, CUDAError>?

  /// The backend of this process, opened on first use.
  static func shared() throws(CUDAError) -> CUDABackend {
    try lock.withLock { () -> Result<CUDABackend, CUDAError> in
      if let loaded { return loaded }
      let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
      let result = Result { () throws(CUDAError) in
        try CUDABackend(candidates: candidates(environment: ProcessInfo.processInfo.environment, executable: executable))
      }
      loaded = result
      return result
    }.get()
  }

  private init(candidates: [String]) throws(CUDAError) {
    guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
      throw .backendMissing(searched: candidates)
    }
    guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
      throw .backendUnusable(path: path, reason: dlerror().map { String(cString: $0) } ?? "dlopen failed")
    }
    func symbol<T>(_ name: String, as type: T.Type) throws(CUDAError) -> T {
      guard let address = dlsym(handle, name) else {
        throw .backendUnusable(path: path, reason: "it has no \(name) (built from another Tandem version?)")
      }
      return unsafeBitCast(address, to: type)
    }
    typealias ABIVersion = @convention(c) () -> Int32
    let abi = try symbol("tandem_cuda_abi_version", as: ABIVersion.self)()
    guard abi == TANDEM_CUDA_ABI_VERSION else {
      throw .backendUnusable(path: path, reason: "its interface is version \(abi), this tandem needs \(TANDEM_CUDA_ABI_VERSION): rebuild it with Scripts/build-cuda.sh")
    }
    self.path = path
    deviceCount = try symbol("tandem_cuda_device_count", as: DeviceCount.self)
    open = try symbol("tandem_cuda_open", as: Open.self)
    close = try symbol("tandem_cuda_close", as: Close.self)
    modelCreate = try symbol("tandem_cuda_model_create", as: ModelCreate.self)
    modelDestroy = try symbol("tandem_cuda_model_destroy", as: ModelDestroy.self)
    parameterCount = try symbol("tandem_cuda_model_parameter_count", as: ParameterCount.self)
    setParameters = try symbol("tandem_cuda_model_set_parameters", as: SetParameters.self)
    forward = try symbol("tandem_cuda_model_forward", as: Forward.self)
    gradients = try symbol("tandem_cuda_model_gradients", as: Gradients.self)
  }

  /// Calls `body` with an error buffer; a non-zero status becomes `failure(text)`.
  static func call(_ failure: (String) -> CUDAError, _ body: (ErrorBuffer, Int) -> Int32) throws(CUDAError) {
    var text = [CChar](repeating: 0, count: 512)
    let status = text.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
    guard status == 0 else {
      let message = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
      throw failure(message.isEmpty ? "error \(status)" : message)
    }
  }
}
