import Foundation
import Testing
import TandemData
import TandemExplain
import TandemNN
import TandemTensor
import TandemTestSupport

/// A model with random (He) weights and non-zero biases, so the baseline matters.
private func model(_ name: ModelName, features: Int, seed: UInt64) throws -> Model {
  let model = try Model.reference(name, features: features, seed: seed)
  for (k, p) in model.parameters.enumerated() where p.name.hasSuffix(".bias") {
    p.value = randomTensor(p.value.shape, seed: seed + UInt64(k), scale: 0.3)
  }
  return model
}

@Test func logregContributionsPlusBiasEqualTheLogit() throws {
  let logreg = try model(.churnLogreg, features: 12, seed: 1)
  let input = randomTensor([16, 12], seed: 2, scale: 2)
  let attributions = TableAttribution.explain(logreg, input: input)
  #expect(attributions.method == .linear)
  let logits = try logreg.forward(input).scalars
  let dense = try #require(logreg.layers[0] as? Dense)
  #expect(attributions.baseline == dense.bias.value.scalars[0])
  for r in 0..<16 {
    let sum = attributions.values[r].reduce(attributions.baseline, +)
    #expect(abs(sum - logits[r]) <= 1e-5 * max(1, abs(logits[r])), "row \(r): \(sum) vs logit \(logits[r])")
    // Each contribution is w_j * x_j, the change from setting x_j to its mean (0).
    for j in 0..<12 {
      #expect(attributions.values[r][j] == dense.weight.value.scalars[j] * input.scalars[r * 12 + j])
    }
  }
}

@Test func integratedGradientsOfALinearModelAreItsExactContributions() throws {
  let logreg = try model(.churnLogreg, features: 10, seed: 3)
  let input = randomTensor([8, 10], seed: 4, scale: 2)
  let exact = TableAttribution.explain(logreg, input: input)
  let integrated = TableAttribution.integratedGradients(logreg, input: input, steps: 16)
  #expect(integrated.method == .integratedGradients)
  #expect(abs(integrated.baseline - exact.baseline) < 1e-6)
  for r in 0..<8 {
    for j in 0..<10 {
      #expect(abs(integrated.values[r][j] - exact.values[r][j]) <= 1e-5, "row \(r) feature \(j)")
    }
  }
}

/// Completeness: baseline + Σ contributions = logit, up to the midpoint rule's
/// error. Each ReLU kink the path crosses adds an error of order 1/steps
/// (measured on these random inputs: 0.17, 0.048, 0.010, 0.002 of the logit
/// change at 16, 64, 256, 1,024 steps), so the gap must shrink as steps grow;
/// one step (the gradient at x/2) is far off, so the property is not met by accident.
@Test func integratedGradientsOfTheMLPAddUpToTheLogit() throws {
  let mlp = try model(.churnMLP, features: 20, seed: 5)
  let input = randomTensor([32, 20], seed: 6, scale: 2)
  let logits = try mlp.forward(input).scalars
  func relativeGap(steps: Int) -> Float {
    let a = TableAttribution.integratedGradients(mlp, input: input, steps: steps)
    #expect(a.logits == logits)
    #expect(a.completenessGap == (0..<32).map { abs(a.values[$0].reduce(a.baseline, +) - logits[$0]) }.max())
    return (0..<32).map { abs(a.values[$0].reduce(a.baseline, +) - logits[$0]) / max(1, abs(logits[$0] - a.baseline)) }.max()!
  }
  let attributions = TableAttribution.explain(mlp, input: input)
  #expect(attributions.method == .integratedGradients)
  #expect(attributions.baseline == (try mlp.forward(Tensor(zeros: [1, 20])).scalars[0]))
  let standard = relativeGap(steps: TableAttribution.defaultSteps), fine = relativeGap(steps: 1024), one = relativeGap(steps: 1)
  #expect(standard < 0.02, "relative completeness gap at \(TableAttribution.defaultSteps) steps: \(standard)")
  #expect(fine < 0.005 && fine < standard / 2, "1024 steps: \(fine), \(TableAttribution.defaultSteps): \(standard)")
  #expect(one > 10 * standard, "one step: \(one)")
  // Backward passes must not leave gradients behind for a later training step.
  #expect(mlp.parameters.allSatisfy { $0.gradient.scalars.allSatisfy { $0 == 0 } })
}

@Test func groupedContributionsSumEachColumnsFeatures() throws {
  let logreg = try model(.churnLogreg, features: 5, seed: 8)
  let input = randomTensor([3, 5], seed: 9)
  let attributions = TableAttribution.explain(logreg, input: input)
  // Features 0 | 1 2 3 | 4: a numeric column, a three-category column, a numeric column.
  let grouped = attributions.grouped([0, 1, 1, 1, 2], groups: 3)
  for (row, values) in zip(grouped, attributions.values) {
    #expect(row[0] == values[0] && row[2] == values[4])
    #expect(abs(row[1] - (values[1] + values[2] + values[3])) <= 1e-6)
  }
}

@Test func schemaMapsOneHotFeaturesBackToTheirSourceColumn() throws {
  let folder = NSTemporaryDirectory() + "tandem-explain-\(getpid())-\(UUID().uuidString)"
  try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(atPath: folder) }
  var csv = "id,tenure,Contract,Paperless,Churn\n"
  let contracts = ["Month-to-month", "One year", "Two year"]
  for i in 0..<40 { csv += "c\(i),\(i % 13 + 1),\(contracts[i % 3]),\(i % 2 == 0 ? "Yes" : "No"),\(i % 4 == 0 ? "Yes" : "No")\n" }
  try csv.write(toFile: folder + "/t.csv", atomically: true, encoding: .utf8)
  var options = TableIngestOptions()
  options.idColumn = "id"
  _ = try TableIngest.run(csv: folder + "/t.csv", output: try AtomicOutput(path: folder + "/t.h5", replacing: false), options: options)
  let schema = try TableSchema(contentsOf: folder + "/t.h5")
  #expect(schema.columns.map(\.name) == ["tenure", "Contract", "Paperless"])
  #expect(schema.columns.map(\.kind) == [.numeric, .categorical, .categorical])
  #expect(schema.columns[1].categories == contracts)
  #expect(schema.featureNames == ["tenure", "Contract=Month-to-month", "Contract=One year", "Contract=Two year",
                                  "Paperless=No", "Paperless=Yes"])
  #expect(schema.columnOfFeature == [0, 1, 1, 1, 2, 2])
  #expect(schema.ids.first == "c0" && schema.ids.count == 40)
  #expect(throws: HDF5Error.self) { try TableSchema(contentsOf: folder + "/t.csv") }
}
