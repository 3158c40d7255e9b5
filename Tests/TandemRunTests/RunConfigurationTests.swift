import Testing
import TandemRun

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

  @Test func numericsIsPinnedOrOpenBLAS() throws {
    #expect(error("[cluster]\nnumerics = \"fast\"")?.contains("'cluster.numerics' must be \"pinned\" or \"openblas\"") == true)
    let pinned = try RunConfiguration(toml: "model = \"churn-mlp\"\ndataset = \"d.h5\"\n", file: "run.toml")
    #expect(try pinned.resolved()["cluster.numerics"] == "pinned")
  }
}
