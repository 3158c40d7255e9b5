import TandemData
import TandemNN

/// What a run's model predicts: the run file's `task`, and the name its
/// versions are registered under.
public enum RunTask: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
  /// Chest X-rays: normal vs pneumonia, tuned for recall.
  case pneumonia
  /// Chest X-rays with pneumonia: bacterial vs viral.
  case pneumoniaType = "pneumonia-type"
  /// Telco customers: churn vs stay.
  case churn

  public var description: String { rawValue }

  /// The tasks a model can be trained for, the first its default.
  public static func tasks(for model: ModelName) -> [RunTask] {
    model.isImageModel ? [.pneumonia, .pneumoniaType] : [.churn]
  }

  /// Which labels of a dataset the task reads.
  public var labels: LabelTask { self == .pneumoniaType ? .subtype : .primary }
}
