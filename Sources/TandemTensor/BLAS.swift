import COpenBLAS

/// The only door to OpenBLAS. Everything that multiplies matrices goes
/// through `sgemm`, so the benchmark's sgemm rate is the ceiling of the whole
/// package.
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

  /// Threads OpenBLAS uses for one call. Tandem pins this (1 per MPI rank by
  /// default) so that runs are reproducible and ranks do not oversubscribe cores.
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

  /// OpenBLAS's build description. The corresponding C function is `openblas_get_config`.
  public static var configuration: String { String(cString: openblas_get_config()) }
}

extension Tensor {
  /// `C = alpha * op(A) · op(B) + beta * C` for 2-D tensors. Shapes are
  /// checked with `precondition`: callers are layers that built these tensors.
  public static func gemm(
    _ a: Tensor, _ b: Tensor, into c: inout Tensor,
    transposeA: Bool = false, transposeB: Bool = false,
    alpha: Float = 1, beta: Float = 0
  ) {
    invariant(a.rank == 2 && b.rank == 2 && c.rank == 2,
                 "gemm needs matrices, got \(a.shape) \(b.shape) \(c.shape)")
    let (m, ka) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
    let (kb, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
    invariant(ka == kb && c.shape == [m, n],
                 "gemm shapes: op(A) [\(m), \(ka)] · op(B) [\(kb), \(n)] into C \(c.shape)")
    a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        c.withUnsafeMutableBufferPointer { pc in
          BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: ka,
                     alpha: alpha, a: pa.baseAddress!, lda: a.shape[1],
                     b: pb.baseAddress!, ldb: b.shape[1], beta: beta,
                     c: pc.baseAddress!, ldc: n)
        }
      }
    }
  }
}
