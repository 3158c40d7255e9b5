import Foundation
import Testing
import TandemTensor
import TandemTestSupport

@Test func tensorFromOutsideWithWrongScalarCountThrowsNamingBoth() {
  #expect(throws: TensorError.scalarCountMismatch(shape: [2, 3], expected: 6, actual: 5)) {
    try Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5])
  }
  do {
    _ = try Tensor(shape: [2, 3], scalars: [1])
  } catch {
    #expect(error.description == "tensor shape [2, 3] needs 6 scalars, got 1")
  }
}

@Test func reshapeToADifferentSizeThrows() throws {
  let t = try Tensor(shape: [2, 3], scalars: Array(repeating: 1, count: 6))
  #expect(try t.reshaped(to: [3, 2]).shape == [3, 2])
  #expect(throws: TensorError.self) { try t.reshaped(to: [4, 2]) }
  #expect(throws: TensorError.negativeDimension([-1, 6])) { try Tensor(shape: [-1, 6], scalars: []) }
}

@Test func validateShapeReportsExpectedAndActual() throws {
  let t = Tensor(zeros: [4, 1, 8, 8])
  try t.validateShape([nil, 1, 8, 8], "images")
  do {
    try t.validateShape([nil, 1, 16, 16], "images")
    Issue.record("expected a shape error")
  } catch {
    #expect(error.description == "images: expected shape [*, 1, 16, 16], got [4, 1, 8, 8]")
  }
}

@Test(arguments: [(false, false, false), (true, false, true), (false, true, false), (true, true, true)])
func gemmMatchesNaiveProduct(transposeA: Bool, transposeB: Bool, accumulate: Bool) {
  let m = 5, n = 7, k = 3
  let a = randomTensor(transposeA ? [k, m] : [m, k], seed: 1)
  let b = randomTensor(transposeB ? [n, k] : [k, n], seed: 2)
  var c = randomTensor([m, n], seed: 3)
  let c0 = c
  Tensor.gemm(a, b, into: &c, transposeA: transposeA, transposeB: transposeB, accumulate: accumulate)
  for i in 0..<m {
    for j in 0..<n {
      var s = 0.0
      for p in 0..<k {
        let av = transposeA ? a.scalars[p * m + i] : a.scalars[i * k + p]
        let bv = transposeB ? b.scalars[j * k + p] : b.scalars[p * n + j]
        s += Double(av) * Double(bv)
      }
      let expected = s + (accumulate ? Double(c0.scalars[i * n + j]) : 0)
      #expect(abs(Double(c.scalars[i * n + j]) - expected) < 1e-5)
    }
  }
}

@Test func gemmWithMismatchedShapesTrapsWithTheShapes() async throws {
  let result = try await #require(processExitsWith: .failure, observing: [\.standardErrorContent]) {
    var c = Tensor(zeros: [2, 2])
    Tensor.gemm(Tensor(zeros: [2, 3]), Tensor(zeros: [4, 2]), into: &c)
  }
  let message = String(decoding: result.standardErrorContent, as: UTF8.self)
  #expect(message.contains("op(A) [2, 3] · op(B) [4, 2] into C [2, 2]"))
}

@Test func blasThreadCountCanBePinned() {
  BLAS.threadCount = 1
  #expect(BLAS.threadCount == 1)
  #expect(!BLAS.coreName.isEmpty)
}
