import Foundation

/// The facts `tandem dataset inspect` prints, read from a dataset file.
public struct DatasetInspection {
  public let path: String
  private let file: HDF5File
  private let reader: DatasetReader

  public init(path: String) throws {
    self.path = path
    file = try HDF5File(readingAt: path)
    reader = try DatasetReader(path: path)
  }

  /// Recomputes the content hash of `path` and compares it with the stored one.
  public static func verify(path: String) throws -> (stored: String, computed: String, matches: Bool) {
    let file = try HDF5File(readingAt: path)
    guard let stored = try file.attribute(ContentHash.attributeName)?.stringValue else {
      throw DataError(path: path, message: "no \(ContentHash.attributeName) attribute to verify against")
    }
    let computed = try ContentHash.compute(file)
    return (stored, computed, stored == computed)
  }

  /// Every dataset in the file, depth first, with element type and shape.
  public func datasets() throws -> [(name: String, type: HDF5ElementType, shape: [Int], chunk: [Int]?)] {
    var out: [(String, HDF5ElementType, [Int], [Int]?)] = []
    func walk(_ group: String) throws {
      for name in try file.memberNames(of: group) {
        let full = group == "/" ? "/" + name : group + "/" + name
        switch try file.kind(of: full) {
        case .group: try walk(full)
        case .dataset:
          let d = try file.dataset(full)
          out.append((full, d.elementType, d.shape, d.chunkShape))
        case .other: break
        }
      }
    }
    try walk("/")
    return out
  }

  /// An attribute as text, `-` when absent.
  private func attr(_ name: String, on object: String = "/") throws -> String {
    switch try file.attribute(name, on: object) {
    case .string(let s): return s
    case .int(let i): return String(i)
    case .double(let d): return String(format: "%.6g", d)
    case .strings(let v): return v.joined(separator: ", ")
    case .ints(let v): return v.map(String.init).joined(separator: ", ")
    case .doubles(let v): return v.map { String(format: "%.6g", $0) }.joined(separator: ", ")
    case nil: return "-"
    }
  }

  /// What `report` prints, as values (`tandem dataset inspect --json`).
  public struct Summary: Encodable, Sendable {
    public struct Dataset: Encodable, Sendable { public let name, type: String; public let shape: [Int]; public let chunks: [Int]? }
    public struct SplitCounts: Encodable, Sendable { public let samples: Int; public let classCounts: [Int]; public let patients: Int? }
    public struct Column: Encodable, Sendable {
      public let name, kind: String
      public let mean, std: Double?
      public let categories: [String]?
      public let missingCount: Int
      public let missingAction: String?
    }
    public let path, kind: String
    public let samples: Int
    public let sampleShape: [Int]
    public let contentSha256: String
    public let classNames: [String]
    public let classCounts: [Int]
    public let subtypeCounts: [String: Int]?
    public let splits: [String: SplitCounts]
    /// Every attribute of the file's root, as text.
    public let attributes: [String: String]
    public let datasets: [Dataset]
    public let columns: [Column]?
    public let mean, std: [Float]
  }

  public func summary() throws -> Summary {
    let names = ["format_version", "tandem_version", "ingested_at", "source_root", "seed", "val_fraction", "test_fraction",
                 "size", "resize", "pixel_mean", "pixel_std", "label_column", "positive_label", "id_column", "missing_policy"]
    var attributes: [String: String] = [:]
    for name in names { let v = try attr(name); if v != "-" { attributes[name] = v } }
    var patientsPerSplit: [Split: Int]?
    if reader.kind == .images {
      let patients = try file.dataset("/patient").readStrings()
      var perSplit: [Split: Set<String>] = [:]
      for (i, p) in patients.enumerated() { perSplit[reader.splits[i], default: []].insert(p) }
      patientsPerSplit = perSplit.mapValues(\.count)
    }
    var splits: [String: Summary.SplitCounts] = [:]
    for split in Split.allCases {
      let counts = reader.classCounts(in: split)
      splits[split.description] = .init(samples: counts.reduce(0, +), classCounts: counts, patients: patientsPerSplit.map { $0[split] ?? 0 })
    }
    var columns: [Summary.Column]?
    if reader.kind == .table {
      columns = try (file.attribute("column_order", on: "/columns")?.stringsValue ?? []).map { column in
        let group = "/columns/\(column)"
        let kind = try attr("kind", on: group)
        let missing = Int(try attr("missing_count", on: group)) ?? 0
        return .init(name: column, kind: kind, mean: try file.attribute("mean", on: group)?.doubleValue,
                     std: try file.attribute("std", on: group)?.doubleValue,
                     categories: kind == "numeric" ? nil : try file.attribute("categories", on: group)?.stringsValue,
                     missingCount: missing, missingAction: missing > 0 ? try attr("missing_action", on: group) : nil)
      }
    }
    return Summary(
      path: path, kind: reader.kind.rawValue, samples: reader.count, sampleShape: reader.sampleShape,
      contentSha256: try attr(ContentHash.attributeName), classNames: reader.classNames, classCounts: reader.classCounts(),
      subtypeCounts: reader.kind == .images
        ? Dictionary(uniqueKeysWithValues: Subtype.allCases.map { s in (Subtype.names[Int(s.rawValue)], reader.subtypes.filter { $0 == s.rawValue }.count) })
        : nil,
      splits: splits, attributes: attributes,
      datasets: try datasets().map { .init(name: $0.name, type: $0.type.rawValue, shape: $0.shape, chunks: $0.chunk) },
      columns: columns, mean: reader.mean, std: reader.std)
  }

  public func report() throws -> String {
    var lines: [String] = []
    lines.append("\(path): \(reader.kind.rawValue) dataset, \(reader.count) samples, format \(try attr("format_version")), "
                 + "tandem \(try attr("tandem_version")), ingested \(try attr("ingested_at"))")
    lines.append("content sha256 \(try attr(ContentHash.attributeName))")
    lines.append("source \(try attr("source_root"))")
    lines.append("datasets:")
    for d in try datasets() {
      let layout = d.chunk.map { "chunks \($0)" } ?? "contiguous"
      lines.append("  \(d.name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(d.type.rawValue) \(d.shape)  \(layout)")
    }
    let classes = reader.classNames
    func balance(_ counts: [Int], names: [String]) -> String {
      let total = max(1, counts.reduce(0, +))
      return zip(names, counts).map { "\($0) \($1) (\(String(format: "%.1f", 100 * Double($1) / Double(total)))%)" }
        .joined(separator: ", ")
    }
    lines.append("classes (\(try attr("label_column", on: "/") == "-" ? "labels" : try attr("label_column"))): "
                 + balance(reader.classCounts(), names: classes))
    if reader.kind == .images {
      let subtypeCounts = Subtype.allCases.map { s in reader.subtypes.filter { $0 == s.rawValue }.count }
      lines.append("subtypes: " + balance(subtypeCounts, names: Subtype.names))
    }
    lines.append("splits:")
    for split in Split.allCases {
      let counts = reader.classCounts(in: split)
      let n = counts.reduce(0, +)
      lines.append("  \(split.description.padding(toLength: 6, withPad: " ", startingAt: 0)) \(n) samples: "
                   + zip(classes, counts).map { "\($0) \($1)" }.joined(separator: ", "))
    }
    switch reader.kind {
    case .images:
      let patients = try file.dataset("/patient").readStrings()
      var perSplit: [Split: Set<String>] = [:]
      for (i, p) in patients.enumerated() { perSplit[reader.splits[i], default: []].insert(p) }
      lines.append("patients: \(Set(patients).count) ("
                   + Split.allCases.map { "\($0) \(perSplit[$0]?.count ?? 0)" }.joined(separator: ", ") + ")")
      lines.append("pixels: mean \(try attr("pixel_mean")), std \(try attr("pixel_std")) (of pixel/255, train split)")
      lines.append("parameters: size \(try attr("size")), seed \(try attr("seed")), val_fraction \(try attr("val_fraction")), "
                   + "test_fraction \(try attr("test_fraction")), resize \(try attr("resize"))")
    case .table:
      lines.append("parameters: label \(try attr("label_column")) (positive \(try attr("positive_label"))), "
                   + "id \(try attr("id_column")), seed \(try attr("seed")), val_fraction \(try attr("val_fraction")), "
                   + "test_fraction \(try attr("test_fraction")), missing policy \(try attr("missing_policy"))")
      lines.append("columns (\(reader.sampleShape[0]) features):")
      for column in try file.attribute("column_order", on: "/columns")?.stringsValue ?? [] {
        let group = "/columns/\(column)"
        let kind = try attr("kind", on: group)
        var line = "  \(column.padding(toLength: 18, withPad: " ", startingAt: 0)) \(kind)"
        if kind == "numeric" {
          line += ", mean \(try attr("mean", on: group)), std \(try attr("std", on: group))"
        } else {
          line += ": \(try attr("categories", on: group))"
        }
        let missing = try attr("missing_count", on: group)
        if missing != "0" { line += ", \(missing) missing (\(try attr("missing_action", on: group)))" }
        lines.append(line)
      }
    }
    let sources = try file.dataset("/source/files").shape.first ?? 0
    lines.append("sources: \(sources) file\(sources == 1 ? "" : "s") with SHA-256 in /source")
    return lines.joined(separator: "\n")
  }
}
