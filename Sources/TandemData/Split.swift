import TandemTensor

/// Train, validation and test assignment, stored as `/split` uint8 [N].
/// Encoded (in run files, summaries and registry rows) by its name.
public enum Split: UInt8, CaseIterable, Sendable, CustomStringConvertible, Codable {
  case train = 0, validation = 1, test = 2

  public static let names = ["train", "val", "test"]
  public var description: String { Self.names[Int(rawValue)] }

  public init?(name: String) {
    guard let i = Self.names.firstIndex(of: name) else { return nil }
    self.init(rawValue: UInt8(i))
  }

  public init(from decoder: any Decoder) throws {
    let name = try decoder.singleValueContainer().decode(String.self)
    guard let split = Split(name: name) else {
      throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "no split '\(name)'"))
    }
    self = split
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(description)
  }
}

/// Seeded, stratified splits. Only depends on its arguments, and shuffles
/// with its own Fisher-Yates over `SeededGenerator` (not the standard
/// library's `shuffle`, whose algorithm may change), so a dataset re-ingested
/// with the same seed by a later Swift gets the same split.
public enum SplitPlanner {
  /// Splits groups of samples (patients) so that no group spans two splits.
  ///
  /// Groups are stratified by the stratum of their first sample (for X-rays,
  /// the class and subtype). Within each stratum the groups are shuffled, then
  /// taken for the test split until it holds `testFraction` of the stratum's
  /// samples, then for validation likewise; the rest train.
  ///
  /// - Parameters:
  ///   - groups: the group (patient) of each sample, `[N]`.
  ///   - strata: the stratum of each sample, `[N]`.
  /// - Returns: the split of each sample, `[N]`.
  public static func grouped(groups: [String], strata: [Int], seed: UInt64,
                             validationFraction: Double, testFraction: Double) -> [Split] {
    precondition(groups.count == strata.count, "\(groups.count) groups for \(strata.count) strata")
    var members: [String: [Int]] = [:]
    var order: [String] = []
    for (i, g) in groups.enumerated() {
      if members[g] == nil { order.append(g) }
      members[g, default: []].append(i)
    }
    var byStratum: [Int: [String]] = [:]
    for g in order { byStratum[strata[members[g]![0]], default: []].append(g) }
    var result = [Split](repeating: .train, count: groups.count)
    var rng = SeededGenerator(seed: seed)
    for stratum in byStratum.keys.sorted() {
      var list = byStratum[stratum]!.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
      shuffle(&list, &rng)
      let total = list.reduce(0) { $0 + members[$1]!.count }
      let testTarget = Int((Double(total) * testFraction).rounded())
      let validationTarget = Int((Double(total) * validationFraction).rounded())
      var test = 0, validation = 0
      for g in list {
        let size = members[g]!.count
        let split: Split
        if test < testTarget { split = .test; test += size }
        else if validation < validationTarget { split = .validation; validation += size }
        else { split = .train }
        for i in members[g]! { result[i] = split }
      }
    }
    return result
  }

  /// Splits samples one by one, stratified by `strata` (the label for tables):
  /// exactly `grouped` with each sample its own group named by its index in
  /// decimal, without making a million names (the names' byte order is
  /// computed on the numbers).
  public static func stratified(strata: [Int], seed: UInt64, validationFraction: Double,
                                testFraction: Double) -> [Split] {
    var byStratum: [Int: [Int]] = [:]
    for (i, s) in strata.enumerated() { byStratum[s, default: []].append(i) }
    var result = [Split](repeating: .train, count: strata.count)
    var rng = SeededGenerator(seed: seed)
    for stratum in byStratum.keys.sorted() {
      var list = byStratum[stratum]!.sorted(by: decimalPrecedes)
      shuffle(&list, &rng)
      let total = list.count
      let testTarget = Int((Double(total) * testFraction).rounded())
      let validationTarget = Int((Double(total) * validationFraction).rounded())
      var test = 0, validation = 0
      for i in list {
        if test < testTarget { result[i] = .test; test += 1 }
        else if validation < validationTarget { result[i] = .validation; validation += 1 }
      }
    }
    return result
  }

  /// Whether `a` written in decimal sorts before `b` written in decimal, byte by byte ("10" < "9").
  static func decimalPrecedes(_ a: Int, _ b: Int) -> Bool {
    func digits(_ x: Int) -> Int { var n = 1, x = x; while x >= 10 { x /= 10; n += 1 }; return n }
    let da = digits(a), db = digits(b)
    if da == db { return a < b }
    var pa = a, pb = b
    for _ in 0..<(da - min(da, db)) { pa /= 10 }
    for _ in 0..<(db - min(da, db)) { pb /= 10 }
    return pa != pb ? pa < pb : da < db
  }

  static func shuffle<T>(_ array: inout [T], _ rng: inout SeededGenerator) {
    guard array.count > 1 else { return }
    for i in stride(from: array.count - 1, to: 0, by: -1) {
      let j = Int(rng.next() % UInt64(i + 1))
      array.swapAt(i, j)
    }
  }
}
