import Foundation
import Testing
import TandemMonitoring

struct DriftTests {
  @Test func equalDistributionsHaveZeroPSI() {
    #expect(populationStabilityIndex(expected: [10, 20, 30, 40], actual: [1, 2, 3, 4]) == 0)
  }

  /// Σ (a − e) ln(a / e) by hand for proportions (0.5, 0.5) → (0.8, 0.2).
  @Test func psiMatchesTheDefinition() {
    let expected = (0.8 - 0.5) * log(0.8 / 0.5) + (0.2 - 0.5) * log(0.2 / 0.5)
    #expect(abs(populationStabilityIndex(expected: [50, 50], actual: [80, 20]) - expected) < 1e-12)
  }

  /// A bin empty on one side is floored, not infinite, and still counts heavily.
  @Test func anEmptyBinIsFinite() {
    let psi = populationStabilityIndex(expected: [100, 0], actual: [50, 50])
    #expect(psi.isFinite && psi > 1)
  }

  /// Symmetric in the sense the metric is: swapping sides gives the same value.
  @Test func psiIsSymmetric() {
    let a = populationStabilityIndex(expected: [30, 50, 20], actual: [10, 40, 50])
    let b = populationStabilityIndex(expected: [10, 40, 50], actual: [30, 50, 20])
    #expect(abs(a - b) < 1e-12)
  }
}
