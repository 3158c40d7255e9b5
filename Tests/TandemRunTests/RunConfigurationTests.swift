import Testing
import TandemData
import TandemRun
import TandemTestSupport

/// Values a run file cannot mean are configuration errors naming the key,
/// never arithmetic traps later.
@Suite struct RunConfigurationBoundsTests {
  func error(_ body: String) -> String? {
    do {
      _ = try RunConfiguration(toml: "model = \"churn-mlp\"\ndataset = \"d.h5\"\n" + body, file: "run.toml")
      return nil
    } catch {
      return error.description
    }
  }

  @Test func anAbsurdGlobalBatchIsAnInputError() {
    #expect(error("[training]\nglobal_batch = 9223372036854775807")?.contains("'training.global_batch' must be between 1 and") == true)
    #expect(error("[training]\nglobal_batch = 0")?.contains("'training.global_batch'") == true)
  }

  @Test func aMicroBatchLargerThanTheGlobalBatchIsRefused() {
    #expect(error("[training]\nglobal_batch = 64\nmicro_batch = 65") == "run.toml: 'training.micro_batch' (65) must not exceed the global batch (64)")
    // Against the reference global batch (256 for churn) when none is given.
    #expect(error("[training]\nmicro_batch = 300")?.contains("(256)") == true)
    #expect(error("[training]\nglobal_batch = 64\nmicro_batch = 64") == nil)
  }

  @Test func absurdEpochsAndTimeoutsAreRefused() {
    #expect(error("epochs = 9223372036854775807")?.contains("'epochs' must be at most") == true)
    #expect(error("[cluster]\ncollective_timeout = inf")?.contains("'cluster.collective_timeout'") == true)
  }

  /// Found by the run-file fuzzer: toml++ aborted the process (an assertion
  /// in its key parser) on a table header with no name.
  @Test func aTableHeaderWithoutANameIsAnErrorNotAnAbort() {
    #expect(error("[training]\nmax_steps = 1\n[\nreduction = \"exact\"") == "run.toml: line 5: a table header needs a name, as in [training]")
    #expect(error("[ ]\n")?.contains("a table header needs a name") == true)
    #expect(error("[[]]\n")?.contains("a table header needs a name") == true)
  }

  /// `[cluster] device`: cpu or cuda, recorded in the resolved settings only
  /// off the CPU, so the snapshots of every CPU run keep their ids.
  @Test func deviceIsCPUOrCUDAAndOnlyCUDAIsRecorded() throws {
    #expect(error("[cluster]\ndevice = \"tpu\"")?.contains("'cluster.device' must be \"cpu\" or \"cuda\"") == true)
    let cpu = try RunConfiguration(toml: "model = \"churn-mlp\"\ndataset = \"d.h5\"\n[cluster]\ndevice = \"cpu\"\n", file: "run.toml")
    #expect(cpu.cluster.device == .cpu && cpu.resolved()["cluster.device"] == nil)
    let cuda = try RunConfiguration(toml: "model = \"churn-mlp\"\ndataset = \"d.h5\"\n[cluster]\ndevice = \"cuda\"\n", file: "run.toml")
    #expect(cuda.cluster.device == .cuda && cuda.resolved()["cluster.device"] == "cuda")
  }

  @Test func numericsIsPinnedOrOpenBLAS() throws {
    #expect(error("[cluster]\nnumerics = \"fast\"")?.contains("'cluster.numerics' must be \"pinned\" or \"openblas\"") == true)
    let pinned = try RunConfiguration(toml: "model = \"churn-mlp\"\ndataset = \"d.h5\"\n", file: "run.toml")
    #expect(try pinned.resolved()["cluster.numerics"] == "pinned")
  }
}

/// The keys of issue 14's recipes: schedules, model selection and augmentation.
@Suite struct RecipeKeysTests {
  let xray = "model = \"xray-cnn\"\ndataset = \"x.h5\"\n"

  @Test func scheduleSelectionAndAugmentationAreRead() throws {
    let c = try RunConfiguration(toml: xray + """
      [training]
      schedule = "cosine"
      warmup_epochs = 1.5
      final_learning_rate = 0.05
      selection = "best-auc"
      patience = 4
      [augmentation]
      shift = 0.1
      zoom = 0.15
      rotation = 8
      brightness = 0.1
      contrast = 0.3
      gamma = 0.35
      noise = 0.02
      sharpness = 1
      low_resolution = 0.3
      """, file: "r.toml")
    #expect(c.training.schedule == .cosine && c.training.warmupEpochs == 1.5 && c.training.finalLearningRate == 0.05)
    #expect(c.training.selection == .bestAUC && c.training.patience == 4)
    #expect(c.augmentation == ImageAugmentation(shift: 0.1, zoom: 0.15, rotation: 8, brightness: 0.1, contrast: 0.3, gamma: 0.35,
                                                noise: 0.02, sharpness: 1, lowResolution: 0.3))
    let resolved = c.resolved()
    #expect(resolved["training.schedule"] == "cosine" && resolved["augmentation.low_resolution"] == "0.3"
            && resolved["training.selection"] == "best-auc")
  }

  /// A run file without the new keys resolves to exactly what it did before
  /// them, so snapshots taken earlier still re-run.
  @Test func runFilesWithoutTheNewKeysResolveAsBefore() throws {
    let keys = Set(try RunConfiguration(toml: xray, file: "r.toml").resolved().keys)
    #expect(keys.allSatisfy { !$0.hasPrefix("augmentation.") && !["training.schedule", "training.selection", "training.patience",
                                                                  "training.warmup_epochs"].contains($0) })
  }

  @Test func badValuesNameTheKey() {
    func error(_ body: String, model: String = "xray-cnn") -> String? {
      do { _ = try RunConfiguration(toml: "model = \"\(model)\"\ndataset = \"x.h5\"\n" + body, file: "r.toml"); return nil } catch {
        return error.description
      }
    }
    #expect(error("[training]\nschedule = \"linear\"")?.contains("'training.schedule'") == true)
    #expect(error("[training]\nselection = \"best\"")?.contains("'training.selection'") == true)
    #expect(error("[training]\npatience = -1")?.contains("'training.patience'") == true)
    #expect(error("[augmentation]\nrotation = 90")?.contains("'augmentation.rotation' must be in [0, 45] degrees") == true)
    #expect(error("[augmentation]\nshfit = 0.1")?.contains("shift") == true)
    #expect(error("[augmentation]\nshift = 0.1", model: "churn-mlp") == "r.toml: [augmentation] applies to image models only, not churn-mlp")
    #expect(error("[training]\nsolver = \"lbfgs\"")?.contains("fits tables only") == true)
    #expect(error("epochs = 5\n[training]\nsolver = \"lbfgs\"", model: "churn-logreg")?.contains("set epochs = 1") == true)
    #expect(error("[training]\nsolver = \"lbfgs\"\nmax_iterations = 0", model: "churn-logreg")?.contains("'training.max_iterations'") == true)
    #expect(error("[training]\nsolver = \"lbfgs\"\ntolerance = 1e-6", model: "churn-logreg") == nil)
  }
}

@Suite struct LearningRateScheduleTests {
  @Test func warmUpRisesLinearlyThenCosineDecaysToTheFinalFraction() {
    let s = LearningRateSchedule(shape: .cosine, base: 0.02, warmupSteps: 10, totalSteps: 111, finalFraction: 0.01)
    #expect(abs(s.rate(step: 0) - 0.002) < 1e-9)
    #expect(s.rate(step: 9) == Float(0.02))
    #expect(s.rate(step: 10) == Float(0.02))
    #expect(abs(s.rate(step: 60) - 0.0101) < 1e-8)   // half way: (1 + 0.01) / 2 of the base
    #expect(abs(s.rate(step: 110) - 0.0002) < 1e-8)  // the last step
    let rates = (10..<111).map(s.rate)
    #expect(zip(rates, rates.dropFirst()).allSatisfy { $0 >= $1 })
  }

  @Test func aConstantScheduleIsTheBaseRateAfterWarmUp() {
    let s = LearningRateSchedule(shape: .constant, base: 0.01, warmupSteps: 0, totalSteps: 50, finalFraction: 0.01)
    #expect((0..<50).allSatisfy { s.rate(step: $0) == 0.01 })
  }

  @Test func theBestEpochIsTheEarliestWithTheHighestAUC() {
    func m(_ auc: Double) -> ClassificationMetrics {
      var x = ClassificationMetrics(scores: [0.1, 0.9], labels: [0, 1], loss: 0)
      x.rocAUC = auc
      return x
    }
    #expect(ModelSelection.bestEpoch([]) == nil)
    #expect(ModelSelection.bestEpoch([m(0.9), m(0.95), m(0.95), m(0.93)]) == 2)
    #expect(ModelSelection.bestEpoch([m(0.9)]) == 1)
  }
}

/// The shipped recipes parse, train the task their name says, say the image
/// size they expect, and set what a user would tune (schedule, selection,
/// augmentation, and for screening class weights).
@Test(arguments: ["pneumonia", "pneumonia-type"])
func theRecipesAreCompleteRunFiles(task: String) throws {
  let path = TandemProcess.packageRoot.appendingPathComponent("Data/recipes/\(task).toml").path
  let (c, text) = try RunConfiguration.withText(contentsOf: path)
  #expect(c.task.rawValue == task && c.model.isImageModel && c.dataset == "xray.h5")
  let size = text.split(separator: "\n").compactMap { $0.hasPrefix("# ingest-size = ") ? Int($0.dropFirst(16)) : nil }
  #expect(size.count == 1 && size[0] % c.model.imageSizeMultiple == 0,
          "one '# ingest-size = N' line, N a multiple of \(c.model.imageSizeMultiple) for \(c.model.rawValue)")
  #expect(c.training.schedule == .cosine && c.training.selection == .bestAUC && !c.augmentation.isNone)
  #expect(c.task != .pneumonia || c.training.classWeights != nil, "the screening recipe weights the rarer normal class")
  #expect(text.contains("tandem ingest images") && text.contains("--size \(size.first ?? 0)"))
}
