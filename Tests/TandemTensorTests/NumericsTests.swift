import Foundation
import Testing
import TandemTensor

/// The pinned path's promise: every element is one ascending fma chain, so the
/// vector kernel equals the scalar reference bit for bit whatever the shape,
/// transposition, blocking edge or accumulation.
@Suite(.serialized) struct NumericsTests {
  struct Shape: CustomStringConvertible {
    var transposeA, transposeB, accumulate: Bool
    var m, n, k: Int
    var description: String { "\(transposeA ? "T" : "N")\(transposeB ? "T" : "N") \(m)x\(n)x\(k)\(accumulate ? " +=" : "")" }
  }

  static let shapes: [Shape] = {
    // The unpacked small-product path: every row remainder and column tail
    // (up to 12 and beyond, for the AVX2 and AVX-512 tiles), both orientations, the MLPs' micro-batch shapes
    // and its depth limit (512). Then the packed path: edges of every block
    // size (6-row and 16-column tiles, 96-row, 384-deep, 2048-column blocks),
    // the swapped orientation (tiny n, large k), k = 0 and 1.
    let dims: [(Int, Int, Int)] = [(1, 1, 1), (5, 15, 7), (4, 12, 3), (11, 8, 5), (6, 16, 384), (7, 17, 385),
                                   (64, 46, 64), (64, 64, 46), (64, 1, 32), (1, 32, 64), (256, 1, 64), (97, 33, 400),
                                   (3, 2100, 9), (32, 144, 300), (7, 17, 512), (13, 37, 0),
                                   (7, 17, 513), (97, 33, 520), (16, 9, 1000), (3, 2100, 700), (200, 70, 769), (130, 130, 130), (24, 64, 600), (25, 47, 513), (96, 96, 520), (108, 2080, 16),
                                   // The AVX-512 small tiles: 12-row remainders, 32-column tails.
                                   (23, 49, 33), (12, 32, 20), (9, 31, 17), (10, 63, 12), (20, 16, 8), (14, 40, 20), (8, 80, 40)]
    // The packed path's AVX-512 tails: every row count 1 to 11 left after 12-row pairs.
    let packedTails = (13...23).map { ($0, 64 + $0 % 3 * 24, 520) }
    var shapes: [Shape] = []
    for (i, (m, n, k)) in (dims + packedTails).enumerated() {
      for t in 0..<4 { shapes.append(Shape(transposeA: t & 1 == 1, transposeB: t & 2 == 2, accumulate: (i + t) % 2 == 0, m: m, n: n, k: k)) }
    }
    return shapes
  }()

  @Test(arguments: shapes)
  func vectorKernelEqualsScalarReferenceBitForBit(_ s: Shape) {
    var rng = SeededGenerator(seed: UInt64(s.m * 1_000_003 + s.n * 1009 + s.k))
    func values(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.nextNormal()) } }
    let a = values(s.m * s.k), b = values(s.k * s.n), c0 = values(s.m * s.n)
    let lda = s.transposeA ? s.m : s.k, ldb = s.transposeB ? s.k : s.n
    var vector = c0, reference = c0, avx2 = c0
    a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        // The CPU's widest tiles, then the AVX2 ones alone (the same code on
        // a CPU without AVX-512).
        Numerics.applyKernelChoice(environment: [:])
        vector.withUnsafeMutableBufferPointer { pc in
          Gemm.multiply(transposeA: s.transposeA, transposeB: s.transposeB, m: s.m, n: s.n, k: s.k,
                        a: pa.baseAddress!, lda: max(lda, 1), b: pb.baseAddress!, ldb: max(ldb, 1),
                        accumulate: s.accumulate, c: pc.baseAddress!, ldc: s.n)
        }
        Numerics.applyKernelChoice(environment: ["TANDEM_PINNED_KERNEL": "avx2"])
        avx2.withUnsafeMutableBufferPointer { pc in
          Gemm.multiply(transposeA: s.transposeA, transposeB: s.transposeB, m: s.m, n: s.n, k: s.k,
                        a: pa.baseAddress!, lda: max(lda, 1), b: pb.baseAddress!, ldb: max(ldb, 1),
                        accumulate: s.accumulate, c: pc.baseAddress!, ldc: s.n)
        }
        Numerics.applyKernelChoice(environment: [:])
        reference.withUnsafeMutableBufferPointer { pc in
          Gemm.referenceMultiply(transposeA: s.transposeA, transposeB: s.transposeB, m: s.m, n: s.n, k: s.k,
                                 a: pa.baseAddress!, lda: max(lda, 1), b: pb.baseAddress!, ldb: max(ldb, 1),
                                 accumulate: s.accumulate, c: pc.baseAddress!, ldc: s.n)
        }
      }
    }
    let differing = zip(vector, reference).filter { $0.bitPattern != $1.bitPattern }.count
    #expect(differing == 0, "\(s): \(differing) of \(vector.count) elements differ from the fma-chain reference (\(Numerics.pinnedKernel))")
    let differingAVX2 = zip(avx2, reference).filter { $0.bitPattern != $1.bitPattern }.count
    #expect(differingAVX2 == 0, "\(s): \(differingAVX2) of \(avx2.count) elements of the AVX2 tiles differ from the fma-chain reference")
    // And the product is right: against Float64 arithmetic, norm-wise.
    var error = 0.0, norm = 0.0
    for i in 0..<s.m {
      for j in 0..<s.n {
        var exact = s.accumulate ? Double(c0[i * s.n + j]) : 0
        for p in 0..<s.k {
          let x = s.transposeA ? a[p * lda + i] : a[i * lda + p]
          let y = s.transposeB ? b[j * ldb + p] : b[p * ldb + j]
          exact += Double(x) * Double(y)
        }
        error += (Double(vector[i * s.n + j]) - exact) * (Double(vector[i * s.n + j]) - exact)
        norm += exact * exact
      }
    }
    #expect(error.squareRoot() <= 1e-5 * max(norm.squareRoot(), 1), "\(s): norm-wise error \(error.squareRoot()) of \(norm.squareRoot())")
  }

  @Test func selfTestPassesWithTheCommittedKnownAnswers() throws {
    try Numerics.selfTest()
  }

  @Test func portableExpAndLogAreWithinAnUlpOfLibm() {
    var rng = SeededGenerator(seed: 7)
    var worstExp = 0.0, worstLog = 0.0
    for _ in 0..<20_000 {
      let x = (rng.nextUniform() * 2 - 1) * 700
      let e = PortableMath.exp(x), reference = Foundation.exp(x)
      worstExp = max(worstExp, abs(e - reference) / reference.ulp)
      let y = Foundation.exp((rng.nextUniform() * 2 - 1) * 700)
      worstLog = max(worstLog, abs(PortableMath.log(y) - Foundation.log(y)) / max(Foundation.log(y).ulp, Double.leastNormalMagnitude))
    }
    #expect(worstExp <= 2, "exp: worst \(worstExp) ulp of Float64")
    #expect(worstLog <= 4, "log: worst \(worstLog) ulp of Float64")
    #expect(PortableMath.exp(-.infinity) == 0 && PortableMath.exp(.infinity) == .infinity && PortableMath.exp(.nan).isNaN)
    #expect(PortableMath.exp(0) == 1 && PortableMath.log(1) == 0)
    #expect(PortableMath.log(0) == -.infinity && PortableMath.log(-1).isNaN && PortableMath.log(.nan).isNaN)
    #expect(abs(PortableMath.log(Double.leastNonzeroMagnitude) - Foundation.log(Double.leastNonzeroMagnitude)) < 1e-12)
  }

  @Test func eightLaneExpAndLogEqualTheScalarFunctionsBitForBit() {
    var rng = SeededGenerator(seed: 11)
    var xs: [Double] = [0, -0.0, 1, -1, 709.78, 709.8, -745.13, -745.2, -708.5, 1e-300, .infinity, -.infinity, .nan,
                        .leastNonzeroMagnitude, .leastNormalMagnitude, 0x1p-1030, -3, .greatestFiniteMagnitude,
                        1.4142135623730951, 1.4142135623730950, 1.4142135623730954, 0.5, 2, 1 + 0x1p-52, 1 - 0x1p-53]
    for _ in 0..<4_000 { xs.append((rng.nextUniform() * 2 - 1) * 800) }
    for _ in 0..<4_000 { xs.append(Foundation.exp((rng.nextUniform() * 2 - 1) * 740)) }
    for _ in 0..<2_000 { xs.append(1 + rng.nextUniform()) }  // softplus's arguments
    while xs.count % 8 != 0 { xs.append(1) }
    var differing: [String] = []
    for start in stride(from: 0, to: xs.count, by: 8) {
      let lanes = SIMD8<Double>(xs[start..<start + 8])
      let e = PortableMath.exp(lanes), l = PortableMath.log(lanes)
      for lane in 0..<8 {
        let x = lanes[lane]
        if e[lane].bitPattern != PortableMath.exp(x).bitPattern { differing.append("exp(\(x))") }
        if l[lane].bitPattern != PortableMath.log(x).bitPattern { differing.append("log(\(x))") }
      }
    }
    #expect(differing.isEmpty, "\(differing.count) lanes differ, e.g. \(differing.prefix(5))")
  }

  @Test func reproducibilityNamesWhatDiffers() {
    #expect(Numerics.reproducibility(of: Numerics.identifier(of: .pinned)) == .reproducible(note: nil))
    guard case .notReproducible(let why) = Numerics.reproducibility(of: "openblas NoSuchCore") else {
      Issue.record("another OpenBLAS core must not count as reproducible"); return
    }
    #expect(why.contains("NoSuchCore") && why.contains(BLAS.coreName))
    guard case .notReproducible(let other) = Numerics.reproducibility(of: "pinned tandem-fma-chain/0") else {
      Issue.record("another pinned contract must not count as reproducible"); return
    }
    #expect(other.contains("tandem-fma-chain/0"))
    #expect(Numerics.reproducibility(of: "openblas \(BLAS.coreName)") != .notReproducible(""))
  }
}
