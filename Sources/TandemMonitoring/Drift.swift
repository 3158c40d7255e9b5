import Foundation
import TandemRun
import TandemData

/// Population stability index between a reference distribution and a new
/// one over the same bins: Σ (a − e) · ln(a / e), with each proportion
/// floored at `floor` so an empty bin does not make it infinite. The usual
/// reading: < 0.1 stable, 0.1–0.25 a moderate shift, > 0.25 a major one.
public func populationStabilityIndex(expected: [Double], actual: [Double], floor: Double = 1e-4) -> Double {
  precondition(expected.count == actual.count, "PSI over \(expected.count) and \(actual.count) bins")
  let e = normalised(expected), a = normalised(actual)
  var psi = 0.0
  for (x, y) in zip(e, a) {
    let p = max(x, floor), q = max(y, floor)
    psi += (q - p) * log(q / p)
  }
  return psi
}

private func normalised(_ counts: [Double]) -> [Double] {
  let total = counts.reduce(0, +)
  return total > 0 ? counts.map { $0 / total } : counts
}

/// Counts of `values` in the bins cut at `edges` (bin k holds edges[k-1] < v <= edges[k]; the last is open).
func histogram(_ values: [Double], edges: [Double]) -> [Double] {
  var counts = [Double](repeating: 0, count: edges.count + 1)
  for v in values {
    var lo = 0, hi = edges.count
    while lo < hi {
      let mid = (lo + hi) / 2
      if v <= edges[mid] { hi = mid } else { lo = mid + 1 }
    }
    counts[lo] += 1
  }
  return counts
}

private func mean(_ values: [Double]) -> Double {
  values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
}

/// Decile cut points of `values`, without repeats (a column with few distinct
/// values gets fewer bins rather than empty duplicates).
func decileEdges(_ values: [Double]) -> [Double] {
  guard !values.isEmpty else { return [] }
  let sorted = values.sorted()
  var edges: [Double] = []
  for k in 1..<10 {
    let v = sorted[min(sorted.count - 1, k * sorted.count / 10)]
    if edges.last != v { edges.append(v) }
  }
  if edges.last == sorted.last { edges.removeLast() }
  return edges
}

/// The drift of one feature (a source column of a table, or an image statistic).
public struct FeatureDrift: Codable, Sendable, Equatable {
  public var name: String
  /// `numeric`, `categorical`, or the image statistic (`pixel intensity`, `image mean`).
  public var kind: String
  public var psi: Double
  /// Reference and new means for numeric features; for categorical ones, the category whose share moved most.
  public var detail: String
}

/// What `tandem monitor` found: per-feature PSI, label shift, and the live
/// metric when the new data carries labels.
public struct DriftReport: Codable, Sendable {
  public struct LabelShift: Codable, Sendable, Equatable {
    public var referenceRate: Double
    public var newRate: Double
    public var difference: Double { abs(newRate - referenceRate) }
  }

  public typealias LiveMetric = TandemRun.LiveMetric

  public var model: String
  public var version: Int
  public var reference: String
  public var data: String
  public var referenceCount: Int
  public var newCount: Int
  public var features: [FeatureDrift]
  public var labelShift: LabelShift?
  public var live: LiveMetric?
  public var psiThreshold: Double
  public var labelShiftThreshold: Double
  /// Why retraining is due; empty when it is not.
  public var reasons: [String]
  public var retrainDue: Bool { !reasons.isEmpty }
  public var maxPSI: Double { features.map(\.psi).max() ?? 0 }
}

/// One side of a comparison: raw feature values as stored (tables), or pixels (images).
public struct DriftSample {
  public let path: String
  public let kind: DatasetKind
  /// Tables: source column name → raw numeric values, or category per row.
  var numeric: [String: [Double]] = [:]
  var categorical: [String: [String]] = [:]
  var columnOrder: [String] = []
  /// Images: mean intensity per image, and a 32-bin pixel histogram.
  var imageMeans: [Double] = []
  var pixelHistogram: [Double] = []
  /// Positive-class rate among labelled rows, when there are labels.
  public var positiveRate: Double?
  public var count: Int

  /// Reads the rows of `reader` at `indices` (all rows when nil).
  public init(reader: DatasetReader, indices: [Int]? = nil) throws {
    path = reader.path
    kind = reader.kind
    let rows = indices ?? Array(0..<reader.count)
    count = rows.count
    let labels = rows.map { reader.primaryLabels[$0] }.filter { $0 >= 0 }
    positiveRate = labels.isEmpty ? nil : Double(labels.filter { $0 == 1 }.count) / Double(labels.count)
    switch reader.kind {
    case .table:
      let file = try HDF5File(readingAt: reader.path)
      let names = try file.dataset("/feature_names").readStrings()
      let d = names.count
      let features = try file.dataset("/features").readAll(as: Float.self)
      guard features.count == reader.count * d else {
        throw DataError(path: reader.path, message: "/features holds \(features.count) values, expected \(reader.count) x \(d)")
      }
      // One-hot groups are named "column=category"; anything else is numeric.
      var groups: [(column: String, categories: [(name: String, feature: Int)])] = []
      for (j, name) in names.enumerated() {
        if let eq = name.firstIndex(of: "=") {
          let column = String(name[..<eq]), category = String(name[name.index(after: eq)...])
          if groups.last?.column == column { groups[groups.count - 1].categories.append((category, j)) }
          else { groups.append((column, [(category, j)])) }
        } else {
          groups.append((name, []))
          numeric[name] = rows.map { Double(features[$0 * d + j]) }
        }
      }
      for group in groups {
        columnOrder.append(group.column)
        guard !group.categories.isEmpty else { continue }
        categorical[group.column] = rows.map { r in
          group.categories.max { features[r * d + $0.feature] < features[r * d + $1.feature] }!.name
        }
      }
    case .images:
      let side = reader.sampleShape[1] * reader.sampleShape[2]
      var histogram = [Double](repeating: 0, count: 32)
      var start = 0
      while start < rows.count {
        let chunk = Array(rows[start..<min(rows.count, start + 256)])
        let pixels = try reader.rawImages(indices: chunk)
        for b in 0..<chunk.count {
          var sum = 0
          for k in 0..<side {
            let p = pixels[b * side + k]
            sum += Int(p)
            histogram[Int(p) >> 3] += 1
          }
          imageMeans.append(Double(sum) / Double(side))
        }
        start += 256
      }
      pixelHistogram = histogram
    }
  }
}

public enum DriftAnalysis {
  /// PSI of every feature of `new` against `reference` (same kind of data).
  public static func features(reference: DriftSample, new: DriftSample) throws -> [FeatureDrift] {
    guard reference.kind == new.kind else {
      throw DataError(path: new.path, message: "holds \(new.kind.rawValue), but the model was trained on \(reference.kind.rawValue)")
    }
    switch reference.kind {
    case .images:
      let edges = decileEdges(reference.imageMeans)
      return [
        FeatureDrift(name: "image mean intensity", kind: "image", psi: populationStabilityIndex(
          expected: histogram(reference.imageMeans, edges: edges), actual: histogram(new.imageMeans, edges: edges)),
          detail: String(format: "mean %.1f -> %.1f", mean(reference.imageMeans), mean(new.imageMeans))),
        FeatureDrift(name: "pixel intensity", kind: "image", psi: populationStabilityIndex(
          expected: reference.pixelHistogram, actual: new.pixelHistogram), detail: "32 bins over 0-255"),
      ]
    case .table:
      var out: [FeatureDrift] = []
      for column in reference.columnOrder {
        if let expected = reference.numeric[column] {
          guard let actual = new.numeric[column] else {
            throw DataError(path: new.path, message: "has no numeric column '\(column)', which the model needs")
          }
          let edges = decileEdges(expected)
              out.append(FeatureDrift(
            name: column, kind: "numeric",
            psi: populationStabilityIndex(expected: histogram(expected, edges: edges), actual: histogram(actual, edges: edges)),
            detail: String(format: "mean %.4g -> %.4g", mean(expected), mean(actual))))
        } else if let expected = reference.categorical[column] {
          guard let actual = new.categorical[column] else {
            throw DataError(path: new.path, message: "has no categorical column '\(column)', which the model needs")
          }
          let categories = Array(Set(expected).union(actual)).sorted()
          let count = { (values: [String]) in categories.map { c in Double(values.filter { $0 == c }.count) } }
          let e = count(expected), a = count(actual)
          let te = max(e.reduce(0, +), 1), ta = max(a.reduce(0, +), 1)
          let moved = categories.indices.max { abs(a[$0] / ta - e[$0] / te) < abs(a[$1] / ta - e[$1] / te) }!
          out.append(FeatureDrift(
            name: column, kind: "categorical", psi: populationStabilityIndex(expected: e, actual: a),
            detail: String(format: "%@ %.1f%% -> %.1f%%", categories[moved], 100 * e[moved] / te, 100 * a[moved] / ta)))
        }
      }
      return out
    }
  }
}
