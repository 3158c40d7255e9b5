import Testing
import TandemData

@Suite struct SplitTests {
  @Test func groupsNeverSpanTwoSplitsAndFractionsHold() {
    let groups = (0..<3000).map { "p\($0 / 3)" }
    let strata = (0..<3000).map { ($0 / 3) % 2 }
    let splits = SplitPlanner.grouped(groups: groups, strata: strata, seed: 9, validationFraction: 0.1, testFraction: 0.2)
    var seen: [String: Split] = [:]
    for (g, s) in zip(groups, splits) {
      if let previous = seen[g] { #expect(previous == s) }
      seen[g] = s
    }
    #expect(abs(splits.filter { $0 == .test }.count - 600) <= 6)
    #expect(abs(splits.filter { $0 == .validation }.count - 300) <= 6)
  }

  @Test func theSameSeedGivesTheSameSplitAndAnotherSeedAnother() {
    let strata = (0..<500).map { $0 % 3 }
    let a = SplitPlanner.stratified(strata: strata, seed: 1, validationFraction: 0.1, testFraction: 0.2)
    let b = SplitPlanner.stratified(strata: strata, seed: 1, validationFraction: 0.1, testFraction: 0.2)
    let c = SplitPlanner.stratified(strata: strata, seed: 2, validationFraction: 0.1, testFraction: 0.2)
    #expect(a == b)
    #expect(a != c)
  }

  @Test func stratifiedSplitKeepsClassProportions() {
    let strata = (0..<1000).map { $0 < 265 ? 1 : 0 }
    let splits = SplitPlanner.stratified(strata: strata, seed: 4, validationFraction: 0.1, testFraction: 0.2)
    let testPositives = zip(strata, splits).filter { $0 == 1 && $1 == .test }.count
    #expect(testPositives == 53)
  }
}

/// The table split is the grouped split with each row its own group named by
/// its index: the same assignment, computed without a million names.
@Test func stratifiedEqualsGroupedWithRowNumbersAsGroups() {
  var state: UInt64 = 3
  let strata = (0..<12_345).map { _ -> Int in
    state = state &* 6364136223846793005 &+ 1442695040888963407
    return Int(state >> 61) % 3
  }
  for seed: UInt64 in [1, 9] {
    let fast = SplitPlanner.stratified(strata: strata, seed: seed, validationFraction: 0.1, testFraction: 0.2)
    let named = SplitPlanner.grouped(groups: strata.indices.map(String.init), strata: strata, seed: seed,
                                     validationFraction: 0.1, testFraction: 0.2)
    #expect(fast == named)
  }
}
