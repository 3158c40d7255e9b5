import Foundation
import Testing
import TandemTensor

/// The batch kernels the MLP step leans on: the same bits as the plain loops.
@Suite struct KernelsTests {
  @Test(arguments: [(1, 1), (64, 64), (64, 46), (3, 7), (256, 17), (0, 9)])
  func columnSumsKeepEachColumnsSequentialChain(rows: Int, columns: Int) {
    var rng = SeededGenerator(seed: UInt64(rows * 100 + columns))
    let m = (0..<(rows * columns)).map { _ in Float(rng.nextNormal()) * 1e3 }
    let start = (0..<columns).map { _ in Float(rng.nextNormal()) }
    var plain = start
    for r in 0..<rows { for j in 0..<columns { plain[j] += m[r * columns + j] } }
    var sums = start
    m.withUnsafeBufferPointer { p in
      sums.withUnsafeMutableBufferPointer { s in
        Kernels.addColumnSums(of: p.baseAddress ?? UnsafePointer(s.baseAddress!), rows: rows, columns: columns, to: s.baseAddress!)
      }
    }
    #expect(sums.map(\.bitPattern) == plain.map(\.bitPattern))
  }

  @Test(arguments: [(16, 256), (3, 13), (1, 7), (5, 1024)])
  func biasAndReluInOnePassEqualTheTwoPasses(rows: Int, columns: Int) {
    var rng = SeededGenerator(seed: UInt64(rows * 31 + columns))
    var m = (0..<(rows * columns)).map { _ in Float(rng.nextNormal()) }
    m[0] = .nan
    let bias = (0..<rows).map { _ in Float(rng.nextNormal()) * 0.5 }
    var twoPasses = m, onePass = m
    bias.withUnsafeBufferPointer { b in
      twoPasses.withUnsafeMutableBufferPointer { t in
        Kernels.addRowBias(b.baseAddress!, to: t.baseAddress!, rows: rows, columns: columns)
        Kernels.relu(t.baseAddress!, t.baseAddress!, count: rows * columns)
      }
      onePass.withUnsafeMutableBufferPointer { Kernels.addRowBiasRelu(b.baseAddress!, to: $0.baseAddress!, rows: rows, columns: columns) }
    }
    #expect(onePass.map(\.bitPattern) == twoPasses.map(\.bitPattern))
  }

  /// Streams side by side must each keep the plain loop's one chain: values
  /// spread over many exponents make any other order round differently.
  @Test(arguments: [(1, 1), (8, 100), (13, 37), (4, 4096), (21, 5)])
  func chainedSumsKeepEachStreamsSequentialChain(streams: Int, count: Int) {
    var rng = SeededGenerator(seed: UInt64(streams * 1000 + count))
    let stride = count + 3
    let a = (0..<(streams * stride)).map { _ in Float(rng.nextNormal()) * Float(pow(10, Double(rng.nextNormal()) * 3)) }
    let b = (0..<(streams * stride)).map { _ in Float(rng.nextNormal()) }
    let means = (0..<streams).map { _ in rng.nextNormal() }
    var sums = [Double](repeating: .nan, count: streams), squares = sums, products = sums
    var plainSums = sums, plainSquares = sums, plainProducts = sums
    for g in 0..<streams {
      var s = 0.0, q = 0.0, p = 0.0
      for k in 0..<count {
        let i = g * stride + k
        s += Double(a[i])
        let d = Double(a[i]) - means[g]; q += d * d
        p += Double(a[i] * b[i])
      }
      plainSums[g] = s; plainSquares[g] = q; plainProducts[g] = p
    }
    var secondSums = sums
    a.withUnsafeBufferPointer { ap in
      b.withUnsafeBufferPointer { bp in
        Kernels.chainedSums(ap.baseAddress!, stride: stride, streams: streams, count: count, into: &sums)
        Kernels.chainedCenteredSquares(ap.baseAddress!, stride: stride, streams: streams, count: count,
                                       means: means, into: &squares)
        Kernels.chainedSumsAndProducts(ap.baseAddress!, bp.baseAddress!, stride: stride, streams: streams, count: count,
                                       sums: &secondSums, productSums: &products)
      }
    }
    #expect(sums.map(\.bitPattern) == plainSums.map(\.bitPattern))
    #expect(secondSums.map(\.bitPattern) == plainSums.map(\.bitPattern))
    #expect(squares.map(\.bitPattern) == plainSquares.map(\.bitPattern))
    #expect(products.map(\.bitPattern) == plainProducts.map(\.bitPattern))
  }

  /// The vector pooling loops against the scalar ones that define them:
  /// ties (values from a small set), NaN, ±0, odd sizes, row tails.
  @Test(arguments: [(2, 4, 4), (3, 17, 33), (2, 32, 130), (1, 7, 18), (4, 64, 64)])
  func maxPoolVectorLoopsEqualTheScalarOnes(planes: Int, height: Int, width: Int) {
    var rng = SeededGenerator(seed: UInt64(planes * 10_000 + height * 100 + width))
    var x = (0..<(planes * height * width)).map { _ in Float(Int(rng.nextUniform() * 7) - 3) }
    for i in Swift.stride(from: 5, to: x.count, by: 97) { x[i] = .nan }
    for i in Swift.stride(from: 11, to: x.count, by: 53) { x[i] = -0.0 }
    let outputs = planes * (height / 2) * (width / 2)
    let dy = (0..<outputs).map { _ in Float(rng.nextNormal()) }
    func pool(scalar: Bool) -> (y: [UInt32], argmax: [UInt8], dx: [UInt32]) {
      Kernels.forcePoolingScalar(scalar)
      defer { Kernels.forcePoolingScalar(false) }
      var y = [Float](repeating: 7, count: outputs), argmax = [UInt8](repeating: 9, count: outputs)
      var dx = [Float](repeating: .nan, count: x.count)
      x.withUnsafeBufferPointer { xs in
        y.withUnsafeMutableBufferPointer { ys in
          argmax.withUnsafeMutableBufferPointer { a in
            Kernels.maxPool2x2(xs.baseAddress!, planes: planes, height: height, width: width, ys.baseAddress!, argmax: a.baseAddress!)
          }
        }
      }
      dy.withUnsafeBufferPointer { g in
        argmax.withUnsafeBufferPointer { a in
          dx.withUnsafeMutableBufferPointer {
            Kernels.maxPool2x2Backward(g.baseAddress!, argmax: a.baseAddress!, planes: planes, height: height, width: width, $0.baseAddress!)
          }
        }
      }
      return (y.map(\.bitPattern), argmax, dx.map(\.bitPattern))
    }
    let scalar = pool(scalar: true), vector = pool(scalar: false)
    #expect(vector.y == scalar.y)
    #expect(vector.argmax == scalar.argmax)
    #expect(vector.dx == scalar.dx)
    #expect(scalar.argmax.allSatisfy { $0 < 4 } && scalar.dx.allSatisfy { !Float(bitPattern: $0).isNaN || dy.contains { $0.isNaN } })
  }

  /// The pooling backward with the ReLU mask equals the two passes it
  /// replaces (pooling backward, then the ReLU's backward over its output),
  /// on ReLU outputs with zero windows, ties and NaN, on both loops.
  @Test(arguments: [(3, 17, 33), (2, 32, 130), (1, 6, 6)])
  func maxPoolBackwardWithTheReLUMaskEqualsTheTwoPasses(planes: Int, height: Int, width: Int) {
    var rng = SeededGenerator(seed: UInt64(planes * 7_000 + height * 70 + width))
    var x = (0..<(planes * height * width)).map { _ in max(0, Float(Int(rng.nextUniform() * 6) - 3)) }
    for i in Swift.stride(from: 7, to: x.count, by: 89) { x[i] = .nan }
    let outputs = planes * (height / 2) * (width / 2)
    let dy = (0..<outputs).map { _ in Float(rng.nextNormal()) }
    var y = [Float](repeating: 0, count: outputs), argmax = [UInt8](repeating: 0, count: outputs)
    x.withUnsafeBufferPointer { xs in
      y.withUnsafeMutableBufferPointer { ys in
        argmax.withUnsafeMutableBufferPointer {
          Kernels.maxPool2x2(xs.baseAddress!, planes: planes, height: height, width: width, ys.baseAddress!, argmax: $0.baseAddress!)
        }
      }
    }
    #expect(y.contains(0) && y.contains { $0 > 0 })
    for scalar in [true, false] {
      Kernels.forcePoolingScalar(scalar)
      defer { Kernels.forcePoolingScalar(false) }
      var fused = [Float](repeating: .nan, count: x.count), twoPasses = fused
      dy.withUnsafeBufferPointer { g in
        argmax.withUnsafeBufferPointer { a in
          y.withUnsafeBufferPointer { ys in
            fused.withUnsafeMutableBufferPointer {
              Kernels.maxPool2x2Backward(g.baseAddress!, argmax: a.baseAddress!, reluMask: ys.baseAddress!,
                                         planes: planes, height: height, width: width, $0.baseAddress!)
            }
          }
          twoPasses.withUnsafeMutableBufferPointer {
            Kernels.maxPool2x2Backward(g.baseAddress!, argmax: a.baseAddress!, planes: planes, height: height, width: width, $0.baseAddress!)
          }
        }
      }
      x.withUnsafeBufferPointer { xs in
        twoPasses.withUnsafeMutableBufferPointer {
          Kernels.reluBackward(output: xs.baseAddress!, UnsafePointer($0.baseAddress!), $0.baseAddress!, count: xs.count)
        }
      }
      #expect(fused.map(\.bitPattern) == twoPasses.map(\.bitPattern), "scalar loop: \(scalar)")
    }
  }

  @Test func gatherCopiesTheNamedRowsInOrderRepeatsIncluded() {
    let width = 46, tableRows = 1000
    let table = (0..<(width * tableRows)).map { Float($0) }
    let rows = [999, 0, 500, 500, 3, 998, 1, 2, 7, 42, 999, 250]
    var out = [Float](repeating: -1, count: rows.count * width)
    table.withUnsafeBufferPointer { t in
      out.withUnsafeMutableBufferPointer { o in
        Kernels.gatherRows(of: t.baseAddress!, width: width, rows: rows, into: o.baseAddress!)
        Kernels.gatherRows(of: t.baseAddress!, width: width, rows: [], into: o.baseAddress!)
      }
    }
    for (b, r) in rows.enumerated() {
      #expect(Array(out[(b * width)..<((b + 1) * width)]) == Array(table[(r * width)..<((r + 1) * width)]), "row \(b)")
    }
  }
}
