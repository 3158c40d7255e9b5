import Testing
import TandemNN
import TandemTensor
import TandemTestSupport

@Test func referenceModelsHaveThePublishedParameterCounts() throws {
  #expect(try Model.reference(.xrayCNN, seed: 0).parameterCount == 105_538)
  #expect(try Model.reference(.churnLogreg, features: 45, seed: 0).parameterCount == 46)
  // 45·64+64 + 64·32+32 + 32+1
  #expect(try Model.reference(.churnMLP, features: 45, seed: 0).parameterCount == 5_057)
  // xray-cnn-gn's 106,018 - fc1 (128·64+64) + conv5 (128·256·9+256) + norm5 (2·256) + fc1 (256·64+64)
  #expect(try Model.reference(.xrayCNNDeep, seed: 0).parameterCount == 409_890)
}

@Test func deepXrayCNNNeedsASideThatHalvesFourTimes() throws {
  #expect(throws: ModelError.invalidArchitecture("xray-cnn-deep needs an image size that is a positive multiple of 16, got 120")) {
    try Model.reference(.xrayCNNDeep, imageSize: 120, seed: 0)
  }
  let model = try Model.reference(.xrayCNNDeep, imageSize: 32, seed: 0)
  #expect(try model.forward(Tensor(zeros: [2, 1, 32, 32])).shape == [2, 2])
  #expect(model.parameters.map(\.name).suffix(8) == ["conv5.weight", "conv5.bias", "norm5.scale", "norm5.shift",
                                                     "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"])
}

@Test func xrayCNNLayersAreThoseOfTheReference() throws {
  let model = try Model.reference(.xrayCNN, seed: 0)
  let shapes = model.parameters.map { "\($0.name)\($0.value.shape)" }
  #expect(shapes == ["conv1.weight[16, 1, 3, 3]", "conv1.bias[16]", "conv2.weight[32, 16, 3, 3]", "conv2.bias[32]",
                     "conv3.weight[64, 32, 3, 3]", "conv3.bias[64]", "conv4.weight[128, 64, 3, 3]", "conv4.bias[128]",
                     "fc1.weight[64, 128]", "fc1.bias[64]", "fc2.weight[2, 64]", "fc2.bias[2]"])
  let logits = try model.forward(Tensor(zeros: [3, 1, 128, 128]))
  #expect(logits.shape == [3, 2])
}

@Test func unknownModelNameIsAClearError() {
  #expect(throws: ModelError.unknownModel("resnet", known: ["xray-cnn", "xray-cnn-gn", "xray-cnn-deep", "churn-logreg", "churn-mlp"])) {
    try ModelName(parsing: "resnet")
  }
  #expect(ModelError.unknownModel("resnet", known: ["a", "b"]).description == "unknown model 'resnet' (known: a, b)")
}

@Test func inputOfTheWrongShapeFromOutsideIsAClearError() throws {
  let model = try Model.reference(.churnMLP, features: 45, seed: 0)
  #expect(throws: ModelError.inputShape(model: "churn-mlp", expected: [45], actual: [8, 44])) {
    try model.forward(Tensor(zeros: [8, 44]))
  }
  #expect(throws: ModelError.inputShape(model: "churn-mlp", expected: [45], actual: [0, 45])) {
    try model.forward(Tensor(zeros: [0, 45]))
  }
  #expect(throws: ModelError.labelOutOfRange(model: "churn-mlp", label: 2, row: 1, classes: 2)) {
    try model.accumulateGradients(Tensor(zeros: [2, 45]), labels: [0, 2])
  }
  #expect(throws: ModelError.labelCount(model: "churn-mlp", labels: 1, batch: 2)) {
    try model.accumulateGradients(Tensor(zeros: [2, 45]), labels: [0])
  }
  let cnn = try Model.reference(.xrayCNN, imageSize: 32, seed: 0)
  #expect(throws: ModelError.self) { try cnn.forward(Tensor(zeros: [1, 3, 32, 32])) }
  #expect(throws: ModelError.self) { try Model.reference(.xrayCNN, imageSize: 30, seed: 0) }
}

@Test func sameSeedGivesTheSameInitialWeightsAndHeScale() throws {
  let a = try Model.reference(.xrayCNN, seed: 11), b = try Model.reference(.xrayCNN, seed: 11)
  let c = try Model.reference(.xrayCNN, seed: 12)
  #expect(a.parameters.map(\.value) == b.parameters.map(\.value))
  #expect(a.parameters[0].value != c.parameters[0].value)
  // conv4.weight: fan-in 64·9, so the standard deviation is √(2/576) ≈ 0.0589.
  let w = a.parameters[6].value.scalars.map(Double.init)
  let std = (w.reduce(0) { $0 + $1 * $1 } / Double(w.count)).squareRoot()
  #expect(abs(std - (2.0 / 576).squareRoot()) < 0.002)
  #expect(a.parameters[7].value.scalars.allSatisfy { $0 == 0 }, "biases start at zero")
}

@Test func sgdFollowsTheMomentumAndWeightDecayFormula() {
  let p = Parameter(name: "w", value: Tensor(uncheckedShape: [2], scalars: [1, -2]))
  let sgd = SGD(for: [p], learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
  p.gradient = Tensor(uncheckedShape: [2], scalars: [0.5, 0.25])
  sgd.step([p])
  // v = g + wd·w = [0.51, 0.23]; w = w − lr·v
  #expect(abs(p.value.scalars[0] - 0.949) < 1e-6 && abs(p.value.scalars[1] - -2.023) < 1e-6)
  sgd.step([p])
  // v = 0.9·v + g + wd·w
  let v0: Float = 0.9 * 0.51 + 0.5 + 0.01 * 0.949, v1: Float = 0.9 * 0.23 + 0.25 + 0.01 * -2.023
  #expect(abs(p.value.scalars[0] - (0.949 - 0.1 * v0)) < 1e-6)
  #expect(abs(p.value.scalars[1] - (-2.023 - 0.1 * v1)) < 1e-6)
}

@Test func gradientsAccumulateUntilZeroed() throws {
  let model = try Model.reference(.churnLogreg, features: 4, seed: 1)
  let x = randomTensor([3, 4], seed: 2)
  try model.accumulateGradients(x, labels: [0, 1, 0])
  let once = model.parameters[0].gradient
  try model.accumulateGradients(x, labels: [0, 1, 0])
  for (a, b) in zip(model.parameters[0].gradient.scalars, once.scalars) { #expect(abs(a - 2 * b) < 1e-6) }
  model.zeroGradients()
  #expect(model.parameters[0].gradient.scalars.allSatisfy { $0 == 0 })
}

/// L-BFGS on the Rosenbrock function, whose curved valley defeats plain
/// gradient descent: it reaches (1, 1) in well under 100 iterations.
@Test func lbfgsFindsTheMinimumOfTheRosenbrockFunction() {
  let p = Parameter(name: "x", value: Tensor(uncheckedShape: [2], scalars: [-1.2, 1]))
  let result = LBFGS(tolerance: 1e-4).minimize([p], maxIterations: 200) {
    let x = Double(p.value.scalars[0]), y = Double(p.value.scalars[1])
    p.gradient = Tensor(uncheckedShape: [2], scalars: [Float(-2 * (1 - x) - 400 * x * (y - x * x)), Float(200 * (y - x * x))])
    return (1 - x) * (1 - x) + 100 * (y - x * x) * (y - x * x)
  }
  #expect(result.converged && result.iterations < 100, "\(result)")
  #expect(abs(p.value.scalars[0] - 1) < 1e-2 && abs(p.value.scalars[1] - 1) < 2e-2, "\(p.value.scalars)")
  #expect(zip(result.objectives, result.objectives.dropFirst()).allSatisfy { $1 <= $0 }, "the line search only accepts descent")
}
