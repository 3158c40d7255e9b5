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

  public func report() throws -> String {
    var lines: [String] = []
    func attr(_ name: String, on object: String = "/") throws -> String {
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
