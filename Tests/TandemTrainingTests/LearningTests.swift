import Testing
import TandemNN
import TandemTensor
import TandemTestSupport
import TandemTraining
import TandemRun

@Test func churnMLPLearnsASeparableProblem() throws {
  BLAS.threadCount = 1
  let data = SyntheticData.separableRows(count: 1024, features: 20, seed: 3)
  let model = try Model.reference(.churnMLP, features: 20, seed: 4)
  let trainer = Trainer(model: model, settings: .reference(for: .churnMLP))
  var losses: [Double] = []
  for epoch in 0..<30 {
    for start in stride(from: 0, to: 1024, by: 256) {
      let loss = try trainer.step(SyntheticData.slice(data, start..<start + 256))
      if epoch == 0 && start == 0 { losses.append(loss) }
    }
  }
  let final = model.loss.evaluate(logits: try model.forward(data.input), labels: data.labels, normalizer: nil).loss
  // log 2 ≈ 0.69 is chance; a separable problem should fall far below.
  #expect(losses[0] > 0.3)
  #expect(final < 0.1, "final training loss \(final)")
}

@Test func churnLogregLearnsASeparableProblem() throws {
  let data = SyntheticData.separableRows(count: 512, features: 12, seed: 5)
  let model = try Model.reference(.churnLogreg, features: 12, seed: 6)
  let trainer = Trainer(model: model, settings: .reference(for: .churnLogreg))
  for _ in 0..<40 {
    for start in stride(from: 0, to: 512, by: 256) { try trainer.step(SyntheticData.slice(data, start..<start + 256)) }
  }
  let final = model.loss.evaluate(logits: try model.forward(data.input), labels: data.labels, normalizer: nil).loss
  #expect(final < 0.15, "final training loss \(final)")
}

/// Sixteen images of pure noise with arbitrary labels: only memorisation can
/// fit them. The layers are the reference ones at 32×32: at 128×128 the global
/// average pool averages 256 positions of noise features, the images become
/// nearly indistinguishable, and memorising them takes thousands of steps
/// (measured: loss still 0.66 after 300 steps), which no unit test can afford.
@Test func xrayCNNOverfitsSixteenRandomImages() throws {
  BLAS.threadCount = 1
  let images = randomTensor([16, 1, 32, 32], seed: 9)
  let labels: [Int32] = (0..<16).map { Int32(($0 * 7 + 3) % 5 < 2 ? 1 : 0) }
  let model = try Model.reference(.xrayCNN, imageSize: 32, seed: 10)
  let trainer = Trainer(model: model, settings: TrainingSettings(globalBatch: 16, learningRate: 0.01))
  var loss = try trainer.step(Batch(input: images, labels: labels))
  let first = loss
  var steps = 1
  while loss > 0.01 && steps < 400 {
    loss = try trainer.step(Batch(input: images, labels: labels))
    steps += 1
  }
  #expect(first > 0.5)
  #expect(loss < 0.01, "loss after \(steps) steps \(loss) (first \(first))")
}

/// At full size the network learns structure: a bright disc or none, on fresh
/// images it has not seen.
@Test func xrayCNNLearnsToFindADiscAtFullSize() throws {
  BLAS.threadCount = 1
  let train = SyntheticData.images(count: 512, size: 128, seed: 21)
  let test = SyntheticData.images(count: 64, size: 128, seed: 22)
  let model = try Model.reference(.xrayCNN, seed: 23)
  let trainer = Trainer(model: model, settings: .reference(for: .xrayCNN))
  for step in 0..<30 {
    let start = (step * 64) % 512
    try trainer.step(SyntheticData.slice(train, start..<start + 64))
  }
  let probabilities = try model.probabilities(test.input)
  let correct = (0..<test.count).filter { i in
    (probabilities.scalars[2 * i + 1] > 0.5 ? 1 : 0) == test.labels[i]
  }.count
  #expect(correct >= 61, "\(correct)/64 correct on held-out images")
}

@Test func referenceSettingsScaleTheLearningRateWithTheGlobalBatch() {
  #expect(TrainingSettings.reference(for: .xrayCNN).learningRate == 0.01)
  #expect(TrainingSettings.reference(for: .xrayCNN, globalBatch: 128).learningRate == 0.02)
  #expect(TrainingSettings.reference(for: .churnMLP).learningRate == 0.05)
  #expect(TrainingSettings.reference(for: .churnLogreg, globalBatch: 128).learningRate == 0.025)
}
