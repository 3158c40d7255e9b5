import CTandemKernels

/// The numeric configuration of everything that computes a model output or a
/// gradient: which matrix kernel runs, and that elementary functions come from
/// IEEE operations alone (`PortableMath`), never from libm.
///
/// The pinned path is chosen by Tandem, not by the shell: its matrix kernel
/// (CTandemKernels) computes each element as one fused multiply-add chain in
/// ascending order, so neither `OPENBLAS_CORETYPE`, thread counts, the rank
/// count nor the CPU generation can change a bit. The `openblas` path hands
/// products to OpenBLAS's kernel for this CPU; it is there for speed
/// comparisons and is reproducible only where OpenBLAS picks the same kernel.
public enum NumericPath: String, Sendable, Codable, CaseIterable {
  case pinned
  case openBLAS = "openblas"
}

public enum Numerics {
  /// Names the pinned kernel's arithmetic contract. Bump it whenever any
  /// element's order of operations changes: snapshots recorded under another
  /// identifier cannot be reproduced bit for bit by this build.
  public static let pinnedIdentifier = "tandem-fma-chain/1"

  /// The path this process computes on. Set once at start-up (training sets
  /// it from its run file, before any arithmetic); every other command keeps
  /// the pinned default.
  nonisolated(unsafe) public static var path: NumericPath = .pinned

  /// What a snapshot, model or audit record notes about the arithmetic that
  /// made it: `pinned tandem-fma-chain/1` or `openblas Zen`.
  public static func identifier(of path: NumericPath) -> String {
    switch path {
    case .pinned: return "pinned \(pinnedIdentifier)"
    case .openBLAS: return "openblas \(BLAS.coreName)"
    }
  }

  /// The exit status for "this machine cannot compute these numerics": a
  /// failed self-test, or a record made with numerics this build lacks.
  public static let cannotReproduceExitStatus: Int32 = 4

  /// The identifier of the current path.
  public static var identifier: String { identifier(of: path) }

  /// `TANDEM_PINNED_KERNEL=scalar` makes the pinned path run its scalar
  /// reference, as a CPU without AVX2/FMA would: the same bits, much slower;
  /// `avx2` keeps an AVX-512 CPU to the AVX2 tiles. A testing knob, read once
  /// at start-up; it cannot change a result.
  public static func applyKernelChoice(environment: [String: String]) {
    tandem_gemm_force_reference(environment["TANDEM_PINNED_KERNEL"] == "scalar" ? 1 : 0)
    tandem_gemm_force_avx2(environment["TANDEM_PINNED_KERNEL"] == "avx2" ? 1 : 0)
  }

  /// Which code runs the pinned kernel on this CPU: AVX-512 tiles (with AVX2
  /// ones at the edges), the AVX2+FMA kernel, or the scalar `fmaf` reference.
  /// All give the same bits; they differ in speed only.
  public static var pinnedKernel: String {
    tandem_gemm_avx512_path() != 0 ? "avx512-fma" : tandem_gemm_vector_path() != 0 ? "avx2-fma" : "scalar-fmaf"
  }

  /// Whether this machine computes `recorded` (an `identifier`) bit for bit,
  /// and if not, why. A missing record (snapshots made before the numeric
  /// configuration was recorded) reproduces only where OpenBLAS picks the
  /// recorded core.
  public static func reproducibility(of recorded: String?, recordedOpenBLASCore: String? = nil) -> Reproducibility {
    let here = identifier(of: .pinned)
    guard let recorded else {
      let core = recordedOpenBLASCore ?? "an unrecorded OpenBLAS kernel"
      if let recordedOpenBLASCore, recordedOpenBLASCore == BLAS.coreName {
        return .reproducible(note: "recorded before numerics were pinned; OpenBLAS picks the same \(core) kernel here")
      }
      return .notReproducible(
        "it was computed before Tandem pinned its numerics, with OpenBLAS's \(core) kernel, and OpenBLAS picks \(BLAS.coreName) here")
    }
    if recorded == here { return .reproducible(note: nil) }
    if recorded.hasPrefix("openblas ") {
      let core = String(recorded.dropFirst("openblas ".count))
      if core == BLAS.coreName { return .reproducible(note: "computed with OpenBLAS's \(core) kernel, which OpenBLAS picks here too") }
      return .notReproducible(
        "it was computed with OpenBLAS's \(core) kernel (numerics = \"openblas\") and OpenBLAS picks \(BLAS.coreName) here")
    }
    return .notReproducible("it was computed with numerics '\(recorded)' and this build of Tandem computes '\(here)'")
  }

  public enum Reproducibility: Equatable, Sendable {
    case reproducible(note: String?)
    case notReproducible(String)
  }

  /// Known-answer test of the pinned arithmetic, run at start-up: a product
  /// whose result bits are fixed by IEEE 754 (each element one `fma` chain)
  /// must match on the vector kernel, on the scalar reference and against the
  /// committed hash, and `PortableMath` must give its committed bits. A CPU or
  /// build that miscomputes is stopped before it trains or scores anything.
  public static func selfTest() throws(NumericsError) {
    var state: UInt32 = 12345
    func next() -> Float {
      state = state &* 1664525 &+ 1013904223
      return Float(Int32(bitPattern: state >> 8) - 0x80_0000) / 0x40_0000
    }
    /// The vector kernel's and the reference's hashes of one product.
    func hashes(_ m: Int, _ n: Int, _ k: Int) -> (vector: UInt64, reference: UInt64) {
      let a = (0..<(m * k)).map { _ in next() }, b = (0..<(k * n)).map { _ in next() }
      let c0 = (0..<(m * n)).map { _ in next() }
      var vector = c0, reference = c0
      a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
          vector.withUnsafeMutableBufferPointer { pc in
            tandem_sgemm(0, 1, m, n, k, pa.baseAddress!, k, pb.baseAddress!, k, 1, pc.baseAddress!, n)
          }
          reference.withUnsafeMutableBufferPointer { pc in
            tandem_sgemm_reference(0, 1, m, n, k, pa.baseAddress!, k, pb.baseAddress!, k, 1, pc.baseAddress!, n)
          }
        }
      }
      return (fnv1a(vector), fnv1a(reference))
    }
    // The small-product path, then the packed one, each with the CPU's widest tiles.
    let (got, expected) = hashes(13, 37, 300)
    let packed = hashes(26, 70, 600)
    guard got == expected, packed.vector == packed.reference else {
      throw NumericsError(message: "the \(pinnedKernel) matrix kernel disagrees with its scalar reference on this CPU")
    }
    guard expected == knownProductHash else {
      throw NumericsError(message: "the pinned matrix product hashes to \(hex(expected)) where every correct machine gives \(hex(knownProductHash))")
    }
    let functions = fnv1a([-87.5, -10, -1, -1e-3, 0, 2e-7, 0.5, 1, 3.25, 20, 88].map { Float(PortableMath.exp($0)) }
                          + [1e-30, 0.1, 0.75, 1, 1.5, 10, 12345.678].map { Float(PortableMath.log($0)) })
    guard functions == knownFunctionHash else {
      throw NumericsError(message: "exp and log hash to \(hex(functions)) where every correct machine gives \(hex(knownFunctionHash))")
    }
  }

  static let knownProductHash: UInt64 = 0x29eb_9e6a_00d4_de75
  static let knownFunctionHash: UInt64 = 0xde93_552e_7924_47ad

  static func hex(_ h: UInt64) -> String { String(h, radix: 16) }

  static func fnv1a(_ values: [Float]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for v in values {
      var bits = v.bitPattern
      for _ in 0..<4 { h = (h ^ UInt64(bits & 0xff)) &* 0x100_0000_01b3; bits >>= 8 }
    }
    return h
  }
}

/// An error the process must exit with a status of its own for (the CLI
/// documents each), also when it is reported through an agreement of ranks.
public protocol DistinctExitStatus: Error {
  var exitStatus: Int32 { get }
}

/// The pinned arithmetic failed its known-answer test here.
public struct NumericsError: DistinctExitStatus, CustomStringConvertible {
  public var exitStatus: Int32 { Numerics.cannotReproduceExitStatus }
  public let message: String
  public var description: String { "numerics self-test failed: \(message); this machine cannot compute Tandem's pinned numerics" }
}

/// What was recorded cannot be computed bit for bit here: another numeric
/// configuration, not a changed model. The CLI exits 4 for it.
public struct CannotReproduceError: DistinctExitStatus, CustomStringConvertible {
  public var exitStatus: Int32 { Numerics.cannotReproduceExitStatus }
  public let what: String
  public let reason: String
  public init(what: String, reason: String) { self.what = what; self.reason = reason }
  public var description: String { "\(what) cannot be reproduced bit for bit on this machine: \(reason)" }
}
