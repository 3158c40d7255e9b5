import Foundation
import TandemRun
import TandemNN
import TandemTensor

/// Measures sgemm, each xray-cnn convolution, and a whole xray-cnn training
/// step in one run, so the step can be quoted as a fraction of the sgemm rate
/// measured on the same machine at the same moment.
public struct KernelBenchmark {
  public struct Result: Codable, Sendable {
    public struct Layer: Codable, Sendable {
      public var name: String
      public var shape: String
      public var forwardGFLOPs: Double
      public var backwardGFLOPs: Double
      public var forwardMs: Double
      public var backwardMs: Double
    }
    public var benchmark = "kernels"
    public var blasThreads: Int
    public var blasCore: String
    /// Present when OpenBLAS picked a kernel without FMA on a CPU with it: the
    /// `OPENBLAS_CORETYPE` that gives this CPU's sgemm rate.
    public var blasCoreForThisCPU = BLAS.coreTypeForThisCPU
    /// The numeric path of the convolutions and the step (`Numerics.identifier`).
    public var numerics = Numerics.identifier
    public var sgemmSize: Int
    public var sgemmGFLOPs: Double
    public var convBatch: Int
    public var conv: [Layer]
    public var stepBatch: Int
    public var stepMs: Double
    public var imagesPerSecond: Double
    public var flopPerImageStep: Double
    public var stepGFLOPs: Double
    public var stepFractionOfSgemm: Double
  }

  /// The training step's cost per image that REFERENCE_MODELS.md quotes.
  public static let flopPerImageStep = 354e6

  public var sgemmSize = 1024
  public var convBatch = 16
  public var stepBatch = 64
  public var repeats = 5

  public init() {}

  public func run() throws -> Result {
    let sgemm = measureSgemm()
    var layers: [Result.Layer] = []
    let convs: [(String, Int, Int, Int)] = [("conv1", 1, 16, 128), ("conv2", 16, 32, 64),
                                             ("conv3", 32, 64, 32), ("conv4", 64, 128, 16)]
    for (name, cin, cout, size) in convs {
      layers.append(measureConv(name: name, inChannels: cin, outChannels: cout, size: size,
                                inputGradient: name != "conv1"))
    }
    let model = try Model.reference(.xrayCNN, seed: 7)
    let data = SyntheticData.images(count: stepBatch, size: 128, seed: 8)
    let trainer = Trainer(model: model, settings: .reference(for: .xrayCNN, globalBatch: stepBatch))
    try trainer.step(data)  // warm-up: allocations and page faults
    let stepSeconds = try best(of: repeats) { try trainer.step(data) }
    let images = Double(stepBatch) / stepSeconds
    let stepGFLOPs = images * Self.flopPerImageStep / 1e9
    return Result(blasThreads: BLAS.threadCount, blasCore: BLAS.coreName, sgemmSize: sgemmSize,
                  sgemmGFLOPs: sgemm, convBatch: convBatch, conv: layers, stepBatch: stepBatch,
                  stepMs: stepSeconds * 1e3, imagesPerSecond: images,
                  flopPerImageStep: Self.flopPerImageStep, stepGFLOPs: stepGFLOPs,
                  stepFractionOfSgemm: stepGFLOPs / sgemm)
  }

  /// Milliseconds of one training step (forward, backward, update) per
  /// sample for architecture `name` on this thread, the best of `repeats`
  /// steps of `batch` synthetic samples: what `tandem architectures` lists.
  public static func stepMilliseconds(_ name: ModelName, features: Int, imageSize: Int = 128, batch: Int = 16,
                                      repeats: Int = 3) throws -> Double {
    let model = try Model.reference(name, features: features, imageSize: imageSize, seed: 7)
    let data = name.isImageModel ? SyntheticData.images(count: batch, size: imageSize, seed: 8)
      : SyntheticData.separableRows(count: batch, features: features, seed: 8)
    let trainer = Trainer(model: model, settings: .reference(for: name, globalBatch: batch))
    try trainer.step(data)
    let seconds = try KernelBenchmark().best(of: repeats) { try trainer.step(data) }
    return seconds * 1e3 / Double(batch)
  }

  /// sgemm GFLOP/s on `sgemmSize`³ matrices, best of `repeats`.
  public func measureSgemm() -> Double {
    let n = sgemmSize
    let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
    var c = [Float](repeating: 0, count: n * n)
    let run = {
      a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
          c.withUnsafeMutableBufferPointer { pc in
            BLAS.sgemm(m: n, n: n, k: n, a: pa.baseAddress!, lda: n, b: pb.baseAddress!, ldb: n,
                       c: pc.baseAddress!, ldc: n)
          }
        }
      }
    }
    run()
    let seconds = (try? best(of: repeats) { run() }) ?? .infinity
    return 2 * Double(n * n * n) / seconds / 1e9
  }

  private func measureConv(name: String, inChannels: Int, outChannels: Int, size: Int, inputGradient: Bool) -> Result.Layer {
    let conv = Conv2D(name: name, inChannels: inChannels, outChannels: outChannels, computesInputGradient: inputGradient)
    Initialization.heNormal(conv.parameters, seed: 3)
    var rng = SeededGenerator(seed: 4)
    let x = Tensor(uninitializedShape: [convBatch, inChannels, size, size]) { p in
      for i in 0..<p.count { p[i] = Float(rng.nextNormal()) }
    }
    let y = conv.forward(x)
    let dy = Tensor(shape: y.shape, repeating: 0.01)
    _ = conv.backward(dy)
    let forward = (try? best(of: repeats) { _ = conv.forward(x) }) ?? .infinity
    let backward = (try? best(of: repeats) { _ = conv.backward(dy) }) ?? .infinity
    let flops = 2.0 * Double(outChannels * inChannels * 9 * size * size * convBatch)
    return .init(name: name, shape: "\(convBatch)x\(inChannels)x\(size)x\(size) -> \(outChannels)",
                 forwardGFLOPs: flops / forward / 1e9,
                 backwardGFLOPs: flops * (inputGradient ? 2 : 1) / backward / 1e9,
                 forwardMs: forward * 1e3, backwardMs: backward * 1e3)
  }

  /// The fastest of `count` timed runs: the least disturbed by other work on a shared machine.
  func best(of count: Int, _ body: () throws -> Void) throws -> Double {
    var fastest = Double.infinity
    for _ in 0..<count {
      let start = DispatchTime.now().uptimeNanoseconds
      try body()
      fastest = min(fastest, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return fastest
  }
}
