import Foundation

/// `RUN/metrics.jsonl`: one JSON object per line, told apart by `type`: a
/// `step` per step (loss, learning rate and every rank's compute / data-wait /
/// allreduce milliseconds), an `epoch` per epoch (validation metrics), a `checkpoint`
/// per checkpoint written and a `resume` where a resumed run picked up. The
/// trainer writes these types and the report reads them.
public enum MetricsFile {
  public struct ResumeLine: Codable, Sendable {
    public var type = "resume"
    public var epoch: Int
    public var step: Int
    public var globalStep: Int
    public var worldSize: Int
    public var note: String

    public init(epoch: Int, step: Int, globalStep: Int, worldSize: Int, note: String) {
      self.epoch = epoch; self.step = step; self.globalStep = globalStep; self.worldSize = worldSize; self.note = note
    }
  }

  public struct CheckpointLine: Codable, Sendable {
    public var type = "checkpoint"
    public var step: Int
    public var ms: Double
    public var file: String

    public init(step: Int, ms: Double, file: String) { self.step = step; self.ms = ms; self.file = file }
  }

  public struct StepLine: Codable, Sendable {
    public struct RankTiming: Codable, Sendable, Equatable {
      public var rank: Int
      public var computeMs, dataWaitMs, allreduceMs: Double

      public init(rank: Int, computeMs: Double, dataWaitMs: Double, allreduceMs: Double) {
        self.rank = rank; self.computeMs = computeMs; self.dataWaitMs = dataWaitMs; self.allreduceMs = allreduceMs
      }
    }
    public var type = "step"
    public var epoch, step: Int
    public var loss: Double
    /// The step's learning rate (absent in logs from before it was recorded, and for L-BFGS).
    public var learningRate: Double?
    public var ranks: [RankTiming]

    public init(epoch: Int, step: Int, loss: Double, learningRate: Double? = nil, ranks: [RankTiming]) {
      self.epoch = epoch; self.step = step; self.loss = loss; self.learningRate = learningRate; self.ranks = ranks
    }
  }

  public struct EpochLine: Codable, Sendable {
    public var type = "epoch"
    public var epoch: Int
    public var validation: ClassificationMetrics

    public init(epoch: Int, validation: ClassificationMetrics) { self.epoch = epoch; self.validation = validation }
  }
}
