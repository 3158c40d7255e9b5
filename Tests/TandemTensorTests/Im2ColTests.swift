import Testing
import TandemTensor
import TandemTestSupport

/// Direct convolution of one image with one filter bank, in Float64.
func naiveConvolution(_ x: [Float], _ w: [Float], _ g: ConvolutionGeometry, outChannels: Int) -> [Double] {
  var out = [Double](repeating: 0, count: outChannels * g.outputPixels)
  for o in 0..<outChannels {
    for oy in 0..<g.outputHeight {
      for ox in 0..<g.outputWidth {
        var s = 0.0
        for c in 0..<g.channels {
          for ki in 0..<g.kernelHeight {
            for kj in 0..<g.kernelWidth {
              let iy = oy * g.stride - g.padding + ki, ix = ox * g.stride - g.padding + kj
              guard iy >= 0, iy < g.height, ix >= 0, ix < g.width else { continue }
              let wi = ((o * g.channels + c) * g.kernelHeight + ki) * g.kernelWidth + kj
              s += Double(w[wi]) * Double(x[(c * g.height + iy) * g.width + ix])
            }
          }
        }
        out[(o * g.outputHeight + oy) * g.outputWidth + ox] = s
      }
    }
  }
  return out
}

let geometries: [ConvolutionGeometry] = [
  .init(channels: 2, height: 7, width: 6, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
  .init(channels: 3, height: 9, width: 8, kernelHeight: 5, kernelWidth: 5, stride: 2, padding: 2),
  .init(channels: 1, height: 5, width: 5, kernelHeight: 1, kernelWidth: 1, stride: 1, padding: 0),
  .init(channels: 2, height: 6, width: 9, kernelHeight: 3, kernelWidth: 2, stride: 3, padding: 0),
  .init(channels: 1, height: 4, width: 4, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 3),
]

@Test(arguments: geometries)
func im2colThenGemmEqualsDirectConvolution(g: ConvolutionGeometry) {
  let outChannels = 3
  let x = randomTensor([g.channels, g.height, g.width], seed: 11).scalars
  let w = randomTensor([outChannels, g.patchSize], seed: 12).scalars
  var cols = [Float](repeating: .nan, count: g.patchSize * g.outputPixels)
  x.withUnsafeBufferPointer { xs in
    cols.withUnsafeMutableBufferPointer { Im2Col.imageToColumns(xs.baseAddress!, g, into: $0.baseAddress!) }
  }
  #expect(!cols.contains { $0.isNaN }, "every column entry is written")
  var y = Tensor(zeros: [outChannels, g.outputPixels])
  Tensor.gemm(Tensor(uncheckedShape: [outChannels, g.patchSize], scalars: w),
              Tensor(uncheckedShape: [g.patchSize, g.outputPixels], scalars: cols), into: &y)
  let expected = naiveConvolution(x, w, g, outChannels: outChannels)
  for i in expected.indices { #expect(abs(Double(y.scalars[i]) - expected[i]) < 1e-4) }
}

/// A band of output rows is exactly those rows' columns of the full matrix.
@Test(arguments: geometries)
func aBandOfOutputRowsIsThoseColumnsOfTheFullMatrix(g: ConvolutionGeometry) {
  let x = randomTensor([g.channels, g.height, g.width], seed: 31).scalars
  let p = g.outputPixels, ow = g.outputWidth
  var full = [Float](repeating: 0, count: g.patchSize * p)
  x.withUnsafeBufferPointer { xs in
    full.withUnsafeMutableBufferPointer { Im2Col.imageToColumns(xs.baseAddress!, g, into: $0.baseAddress!) }
    for first in 0..<g.outputHeight {
      for last in (first + 1)...g.outputHeight where last == g.outputHeight || last == first + 1 || last == first + 2 {
        let rows = first..<last, pixels = rows.count * ow
        var band = [Float](repeating: .nan, count: g.patchSize * pixels)
        band.withUnsafeMutableBufferPointer {
          Im2Col.imageToColumns(xs.baseAddress!, g, outputRows: rows, into: $0.baseAddress!)
        }
        for t in 0..<g.patchSize {
          let expected = full[(t * p + first * ow)..<(t * p + last * ow)]
          #expect(Array(band[(t * pixels)..<((t + 1) * pixels)]).map(\.bitPattern) == expected.map(\.bitPattern),
                  "rows \(rows), patch row \(t)")
        }
      }
    }
  }
}

/// col2im band by band, from the last band to the first, gives the bits of
/// col2im over the whole matrix (each pixel gets the same sum in the same order).
@Test(arguments: geometries)
func col2imInBandsFromTheLastEqualsTheWholeMatrix(g: ConvolutionGeometry) {
  let p = g.outputPixels, ow = g.outputWidth
  let c = randomTensor([g.patchSize, p], seed: 41).scalars
  var whole = [Float](repeating: 0, count: g.channels * g.height * g.width)
  c.withUnsafeBufferPointer { cs in
    whole.withUnsafeMutableBufferPointer { Im2Col.addColumnsToImage(cs.baseAddress!, g, into: $0.baseAddress!) }
  }
  for bandRows in Set([1, 2, 3, max(1, g.outputHeight / 2)]) {
    var banded = [Float](repeating: 0, count: whole.count)
    for first in stride(from: 0, to: g.outputHeight, by: bandRows).reversed() {
      let rows = first..<min(g.outputHeight, first + bandRows), pixels = rows.count * ow
      var band = [Float](repeating: 0, count: g.patchSize * pixels)
      for t in 0..<g.patchSize {
        for j in 0..<pixels { band[t * pixels + j] = c[t * p + first * ow + j] }
      }
      band.withUnsafeBufferPointer { bs in
        banded.withUnsafeMutableBufferPointer {
          Im2Col.addColumnsToImage(bs.baseAddress!, g, outputRows: rows, into: $0.baseAddress!)
        }
      }
    }
    #expect(banded.map(\.bitPattern) == whole.map(\.bitPattern), "bands of \(bandRows) rows")
  }
}

/// col2im is the adjoint of im2col: ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩.
@Test(arguments: geometries)
func col2imIsTheAdjointOfIm2col(g: ConvolutionGeometry) {
  let x = randomTensor([g.channels, g.height, g.width], seed: 21).scalars
  let c = randomTensor([g.patchSize, g.outputPixels], seed: 22).scalars
  var cols = [Float](repeating: 0, count: c.count)
  var image = [Float](repeating: 0, count: x.count)
  x.withUnsafeBufferPointer { xs in
    cols.withUnsafeMutableBufferPointer { Im2Col.imageToColumns(xs.baseAddress!, g, into: $0.baseAddress!) }
  }
  c.withUnsafeBufferPointer { cs in
    image.withUnsafeMutableBufferPointer { Im2Col.addColumnsToImage(cs.baseAddress!, g, into: $0.baseAddress!) }
  }
  let lhs = zip(cols, c).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
  let rhs = zip(x, image).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
  #expect(abs(lhs - rhs) < 1e-4 * max(1, abs(lhs)))
}

@Test func maxPoolPicksTheMaximumAndRoutesItsGradient() {
  // One 4x4 plane; the maxima of the four windows are 5, 7, 13, 15.
  let x: [Float] = [0, 5, 2, 1,
                    3, 4, 7, 6,
                    8, 9, 15, 10,
                    13, 12, 11, 14]
  var y = [Float](repeating: 0, count: 4), arg = [UInt8](repeating: 9, count: 4)
  var dx = [Float](repeating: -1, count: 16)
  x.withUnsafeBufferPointer { xs in
    y.withUnsafeMutableBufferPointer { ys in
      arg.withUnsafeMutableBufferPointer { a in
        Kernels.maxPool2x2(xs.baseAddress!, planes: 1, height: 4, width: 4, ys.baseAddress!, argmax: a.baseAddress!)
      }
    }
  }
  #expect(y == [5, 7, 13, 15])
  let dy: [Float] = [1, 2, 3, 4]
  dy.withUnsafeBufferPointer { g in
    arg.withUnsafeBufferPointer { a in
      dx.withUnsafeMutableBufferPointer {
        Kernels.maxPool2x2Backward(g.baseAddress!, argmax: a.baseAddress!, planes: 1, height: 4, width: 4, $0.baseAddress!)
      }
    }
  }
  #expect(dx == [0, 1, 0, 0,
                 0, 0, 2, 0,
                 0, 0, 4, 0,
                 3, 0, 0, 0])
}

/// A band of one of xray-cnn's convolutions, of conv1's with odd shapes beside
/// it (tails of rows and channels, no padding), and of xray-cnn-deep's 8-wide
/// conv5.
struct ConvolutionBand: Sendable, CustomStringConvertible {
  let channels, side, outChannels: Int
  let rows: Range<Int>
  /// Whether the weight gradient's product takes the columns from the image too.
  var implicitGradient = true
  var padding = 1
  var description: String { "\(channels)x\(side)x\(side) -> \(outChannels), padding \(padding), rows \(rows)" }
}

/// The pinned kernel's products with the column matrix taken straight from
/// the image (direct, or packed from it) have the bits of im2col then the
/// same product, on the CPU's widest tiles and on the AVX2 ones, with the
/// padding at both ends of every output row and bands that start and end
/// mid-image; where it declines it writes nothing.
@Test(arguments: [
  ConvolutionBand(channels: 16, side: 64, outChannels: 32, rows: 0..<14),
  ConvolutionBand(channels: 16, side: 64, outChannels: 32, rows: 56..<64),
  ConvolutionBand(channels: 32, side: 32, outChannels: 64, rows: 14..<28),
  ConvolutionBand(channels: 64, side: 16, outChannels: 128, rows: 0..<16),
  ConvolutionBand(channels: 1, side: 128, outChannels: 16, rows: 0..<40),
  ConvolutionBand(channels: 1, side: 128, outChannels: 16, rows: 80..<128),
  ConvolutionBand(channels: 1, side: 20, outChannels: 5, rows: 3..<11),
  ConvolutionBand(channels: 1, side: 13, outChannels: 11, rows: 0..<11, padding: 0),
  ConvolutionBand(channels: 3, side: 21, outChannels: 7, rows: 2..<21, implicitGradient: false),
  ConvolutionBand(channels: 128, side: 8, outChannels: 256, rows: 0..<8),
])
func packingTheColumnsFromTheImageGivesTheBitsOfIm2col(band: ConvolutionBand) {
  let g = ConvolutionGeometry(channels: band.channels, height: band.side, width: band.side,
                              kernelHeight: 3, kernelWidth: 3, stride: 1, padding: band.padding)
  let x = randomTensor([g.channels, g.height, g.width], seed: 41).scalars
  let w = randomTensor([band.outChannels, g.patchSize], seed: 42).scalars
  let pixels = band.rows.count * g.outputWidth
  for choice in [[:], ["TANDEM_PINNED_KERNEL": "avx2"]] {
    Numerics.applyKernelChoice(environment: choice)
    defer { Numerics.applyKernelChoice(environment: [:]) }
    var cols = [Float](repeating: 0, count: g.patchSize * pixels)
    var explicit = [Float](repeating: .nan, count: band.outChannels * pixels), implicit = explicit
    var took = false
    x.withUnsafeBufferPointer { xs in
      w.withUnsafeBufferPointer { ws in
        cols.withUnsafeMutableBufferPointer { Im2Col.imageToColumns(xs.baseAddress!, g, outputRows: band.rows, into: $0.baseAddress!) }
        cols.withUnsafeBufferPointer { cs in
          explicit.withUnsafeMutableBufferPointer {
            Gemm.multiply(m: band.outChannels, n: pixels, k: g.patchSize, a: ws.baseAddress!, lda: g.patchSize,
                          b: cs.baseAddress!, ldb: pixels, c: $0.baseAddress!, ldc: pixels)
          }
        }
        took = implicit.withUnsafeMutableBufferPointer {
          Gemm.multiplyColumns(of: xs.baseAddress!, g, outputRows: band.rows, m: band.outChannels,
                               a: ws.baseAddress!, lda: g.patchSize, c: $0.baseAddress!, ldc: pixels)
        }
      }
    }
    #expect(took == Gemm.vectorPathAvailable, "\(band) under \(choice)")
    if took {
      let differing = zip(explicit, implicit).filter { $0.bitPattern != $1.bitPattern }.count
      #expect(differing == 0, "\(band) under \(choice): \(differing) of \(explicit.count) outputs differ")
    } else {
      #expect(implicit.allSatisfy { $0.isNaN }, "declined, yet wrote")
    }

    // The weight gradient's product, dW += dY · colsᵀ, continuing dW's chains.
    let dy = randomTensor([band.outChannels, pixels], seed: 43).scalars
    let dw0 = randomTensor([band.outChannels, g.patchSize], seed: 44).scalars
    var dwExplicit = dw0, dwImplicit = dw0
    var tookGradient = false
    dy.withUnsafeBufferPointer { dys in
      cols.withUnsafeBufferPointer { cs in
        dwExplicit.withUnsafeMutableBufferPointer {
          Gemm.multiply(transposeB: true, m: band.outChannels, n: g.patchSize, k: pixels, a: dys.baseAddress!, lda: pixels,
                        b: cs.baseAddress!, ldb: pixels, accumulate: true, c: $0.baseAddress!, ldc: g.patchSize)
        }
      }
      x.withUnsafeBufferPointer { xs in
        tookGradient = dwImplicit.withUnsafeMutableBufferPointer {
          Gemm.multiplyColumns(of: xs.baseAddress!, g, outputRows: band.rows, transposeColumns: true, m: band.outChannels,
                               a: dys.baseAddress!, lda: pixels, c: $0.baseAddress!, ldc: g.patchSize)
        }
      }
    }
    #expect(tookGradient == (band.implicitGradient && Gemm.vectorPathAvailable), "\(band) gradient under \(choice)")
    let differing = zip(dwExplicit, tookGradient ? dwImplicit : dwExplicit).filter { $0.bitPattern != $1.bitPattern }.count
    #expect(differing == 0, "\(band) gradient under \(choice): \(differing) of \(dwExplicit.count) differ")
    if !tookGradient { #expect(dwImplicit == dw0, "declined, yet wrote") }
  }
}
