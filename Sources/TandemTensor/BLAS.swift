import COpenBLAS
import CTandemKernels

/// Matrix products. Every layer multiplies through `Gemm.multiply`, which runs
/// the numeric path chosen for the process (`Numerics.path`): Tandem's own
/// fixed-order kernel (the default, the same bits on every machine) or
/// OpenBLAS's kernel for this CPU (faster on some machines, not portable).
public enum Gemm {
  /// `C = op(A)·op(B)` (or `C += op(A)·op(B)` with `accumulate`) on row-major
  /// matrices, where `op(A)` is `[m, k]`, `op(B)` is `[k, n]` and `C` is `[m, n]`.
  @inlinable
  public static func multiply(
    transposeA: Bool = false, transposeB: Bool = false,
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    accumulate: Bool = false,
    c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    invariant(m >= 0 && n >= 0 && k >= 0, "gemm dimensions m=\(m) n=\(n) k=\(k)")
    if m == 0 || n == 0 { return }
    switch Numerics.path {
    case .pinned:
      tandem_sgemm(transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, a, lda, b, ldb, accumulate ? 1 : 0, c, ldc)
    case .openBLAS:
      BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                 a: a, lda: lda, b: b, ldb: ldb, beta: accumulate ? 1 : 0, c: c, ldc: ldc)
    }
  }

  /// `C = A · cols` (or `C += A · colsᵀ` with `transposeColumns`, the weight
  /// gradient's product), where `cols` is the column matrix of `image` for
  /// the output rows `outputRows` of a stride-1 convolution `g`
  /// (`Im2Col.imageToColumns`), without writing the columns out: the pinned
  /// kernel reads the taps from padded copies of the image rows (the forward
  /// product; the weight gradient of a patch of at most 12 taps, conv1's) or
  /// packs them straight from the image (other weight gradients); the same
  /// values in the same chains, so the same bits. False, having done nothing,
  /// where that is not the product the pinned kernel would run (the openblas
  /// path, other small or swapped weight gradients, the scalar reference).
  public static func multiplyColumns(
    of image: UnsafePointer<Float>, _ g: ConvolutionGeometry, outputRows: Range<Int>, transposeColumns: Bool = false,
    m: Int, a: UnsafePointer<Float>, lda: Int, c: UnsafeMutablePointer<Float>, ldc: Int
  ) -> Bool {
    guard Numerics.path == .pinned, g.stride == 1 else { return false }
    var columns = tandem_conv_columns(image: image, channels: g.channels, height: g.height, width: g.width,
                                      kernel_h: g.kernelHeight, kernel_w: g.kernelWidth, padding: g.padding,
                                      out_w: g.outputWidth, first_row: outputRows.lowerBound)
    let pixels = outputRows.count * g.outputWidth
    return transposeColumns
      ? tandem_sgemm_implicit_columns(1, m, g.patchSize, pixels, a, lda, &columns, 1, c, ldc) != 0
      : tandem_sgemm_implicit_columns(0, m, pixels, g.patchSize, a, lda, &columns, 0, c, ldc) != 0
  }

  /// Whether this CPU runs the pinned kernel's vector code (AVX2 and FMA).
  public static var vectorPathAvailable: Bool { tandem_gemm_vector_path() != 0 }

  /// The same product by the pinned kernel's scalar reference loop, whatever
  /// the path: what the vector kernel must equal bit for bit.
  public static func referenceMultiply(
    transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    accumulate: Bool = false, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    tandem_sgemm_reference(transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, a, lda, b, ldb, accumulate ? 1 : 0, c, ldc)
  }
}

/// The only door to OpenBLAS: the `openblas` numeric path, and the machine's
/// sgemm rate that benchmarks quote every ratio against.
public enum BLAS {
  /// `C = alpha * op(A) * op(B) + beta * C` on row-major matrices, where
  /// `op(A)` is `[m, k]`, `op(B)` is `[k, n]` and `C` is `[m, n]`.
  /// The corresponding C function is `cblas_sgemm`.
  @inlinable
  public static func sgemm(
    transposeA: Bool = false, transposeB: Bool = false,
    m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0,
    c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    invariant(m >= 0 && n >= 0 && k >= 0, "sgemm dimensions m=\(m) n=\(n) k=\(k)")
    if m == 0 || n == 0 { return }
    cblas_sgemm(CblasRowMajor,
                transposeA ? CblasTrans : CblasNoTrans,
                transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb),
                beta, c, Int32(ldc))
  }

  /// Threads OpenBLAS uses for one call (1 per MPI rank by default, so ranks
  /// do not oversubscribe cores). The pinned path never calls OpenBLAS.
  /// The corresponding C functions are `openblas_get_num_threads` and
  /// `openblas_set_num_threads`.
  public static var threadCount: Int {
    get { Int(openblas_get_num_threads()) }
    set {
      invariant(newValue > 0, "BLAS thread count must be positive, got \(newValue)")
      openblas_set_num_threads(Int32(newValue))
    }
  }

  /// The kernel family OpenBLAS picked for this CPU (e.g. `Zen`, `Haswell`).
  /// The corresponding C function is `openblas_get_corename`.
  public static var coreName: String { String(cString: openblas_get_corename()) }

  /// OpenBLAS's kernels without FMA, which it also falls back to on a CPU newer
  /// than the build knows (OpenBLAS 0.3.21 runs Prescott on Emerald Rapids).
  static let kernelsWithoutFMA: Set<String> = [
    "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge", "Atom",
    "Opteron", "Opteron_SSE3", "Barcelona", "Bobcat", "Katmai", "Coppermine", "Northwood", "Banias", "Generic",
  ]

  /// The `OPENBLAS_CORETYPE` this CPU can run when OpenBLAS picked a kernel
  /// without FMA on a CPU with it (`SkylakeX` with AVX-512, else `Haswell`);
  /// nil when its pick uses the CPU. OpenBLAS reads the variable when it loads,
  /// so only a new process can take the advice.
  public static var coreTypeForThisCPU: String? {
    guard Gemm.vectorPathAvailable, kernelsWithoutFMA.contains(coreName) else { return nil }
    return tandem_cpu_avx512() != 0 ? "SkylakeX" : "Haswell"
  }

  /// OpenBLAS's build description. The corresponding C function is `openblas_get_config`.
  public static var configuration: String { String(cString: openblas_get_config()) }
}

extension Tensor {
  /// `C = op(A) · op(B)` (or `C += ...` with `accumulate`) for 2-D tensors.
  /// Shapes are checked with `invariant`: callers are layers that built these tensors.
  public static func gemm(
    _ a: Tensor, _ b: Tensor, into c: inout Tensor,
    transposeA: Bool = false, transposeB: Bool = false, accumulate: Bool = false
  ) {
    let (m, n, k) = productShape(a, b, transposeA: transposeA, transposeB: transposeB, into: c.shape)
    c.withUnsafeMutableBufferPointer { pc in
      multiply(a, b, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, accumulate: accumulate,
               into: pc.baseAddress!)
    }
  }

  /// `[m, n, k]` of `op(A) · op(B)` (into a C of shape `c`, when given),
  /// checked with `invariant`.
  private static func productShape(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool,
                                   into c: [Int]? = nil) -> (Int, Int, Int) {
    invariant(a.rank == 2 && b.rank == 2 && (c?.count ?? 2) == 2,
              "gemm needs matrices, got \(a.shape) \(b.shape)\(c.map { " \($0)" } ?? "")")
    let (m, ka) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
    let (kb, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
    invariant(ka == kb && (c == nil || c! == [m, n]),
              "gemm shapes: op(A) [\(m), \(ka)] · op(B) [\(kb), \(n)]\(c.map { " into C \($0)" } ?? "")")
    return (m, n, ka)
  }

  /// The product, of the shape `productShape` gave, into `c`, a dense `[m, n]` matrix.
  private static func multiply(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                               accumulate: Bool, into c: UnsafeMutablePointer<Float>) {
    a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        Gemm.multiply(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                      a: pa.baseAddress!, lda: a.shape[1], b: pb.baseAddress!, ldb: b.shape[1],
                      accumulate: accumulate, c: c, ldc: n)
      }
    }
  }

  /// `op(A) · op(B)` as a new matrix: the product writes every element, so
  /// there is no zero fill first (the same bits as `gemm` into zeros).
  public static func product(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    let (m, n, k) = productShape(a, b, transposeA: transposeA, transposeB: transposeB)
    return Tensor(uninitializedShape: [m, n]) { pc in
      multiply(a, b, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, accumulate: false,
               into: pc.baseAddress!)
    }
  }
}
