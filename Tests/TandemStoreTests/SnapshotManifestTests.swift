import Foundation
import Testing
import TandemRun
import TandemStore

struct SnapshotManifestTests {
  @Test func canonicalJSONHasSortedKeysNoWhitespaceAndRoundTrips() throws {
    let manifest = Fixtures.manifest()
    let text = String(decoding: manifest.canonicalJSON(), as: UTF8.self)
    #expect(text.hasPrefix(#"{"code":{"gitCommit":"1111111111111111111111111111111111111111","gitDirty":false,"tandemVersion":"0.1.0"},"configTOML":"model = \"churn-mlp\"\ndataset = \"churn.h5\"\nseed = 1\n","datasetFileName":"churn.h5","datasetSHA256":"#))
    #expect(text.contains(#""cpuFlags":["avx2","fma","sse2"]"#))
    #expect(text.contains(#""resolvedConfig":{"epochs":"5","model":"churn-mlp","training.learning_rate":"0.05"}"#))
    #expect(text.hasSuffix(#""seed":1,"worldSize":2}"#))
    #expect(!text.contains(": ") && !text.contains(", ") && !text.contains("\n"))
    #expect(manifest.canonicalJSON() == manifest.canonicalJSON())
    let decoded = try SnapshotManifest.decode(manifest.canonicalJSON(), path: "test")
    #expect(decoded == manifest)
    #expect(decoded.canonicalJSON() == manifest.canonicalJSON())
  }

  /// Pins the format: a change to the canonical serialisation would silently
  /// give every existing snapshot a new id. The pinned value is also what
  /// Python computes: `hashlib.sha256(json.dumps(m, sort_keys=True,
  /// separators=(",", ":"), ensure_ascii=False).encode())`.
  @Test func idOfAFixedManifestNeverChanges() {
    let manifest = Fixtures.manifest()
    #expect(manifest.id.count == 64)
    #expect(manifest.id == SnapshotManifestTests.pinnedID, "canonical JSON changed: \(String(decoding: manifest.canonicalJSON(), as: UTF8.self))")
  }
  static let pinnedID = "f8267d304abe9d351f7b8273d684d3626c53148c76369354c103fce4cbce912a"

  @Test func stringsEscapeOnlyQuotesBackslashesAndControlCharacters() {
    let value = CanonicalJSON.object(["k": .string("a\"b\\c\n\t\u{01}é/€")])
    #expect(value.text == "{\"k\":\"a\\\"b\\\\c\\n\\t\\u0001é/€\"}")
    let keys = CanonicalJSON.object(["b": .integer(-3), "B": .unsigned(UInt64.max), "a": .null, "é": .bool(true)])
    #expect(keys.text == #"{"B":18446744073709551615,"a":null,"b":-3,"é":true}"#)
  }

  @Test func equalManifestsHaveEqualIds() {
    #expect(Fixtures.manifest().id == Fixtures.manifest().id)
    // Flag order as read does not matter: flags are sorted.
    var shuffled = Fixtures.manifest()
    shuffled.environment.cpuFlags = ["fma", "sse2", "avx2"]
    #expect(shuffled.id == Fixtures.manifest().id)
  }

  @Test func anyFieldChangeGivesANewId() {
    let base = Fixtures.manifest()
    var changes: [(String, (inout SnapshotManifest) -> Void)] = [
      ("datasetSHA256", { $0.datasetSHA256 = String(repeating: "cd", count: 32) }),
      ("datasetFileName", { $0.datasetFileName = "other.h5" }),
      ("configTOML", { $0.configTOML += " " }),
      ("resolvedConfig value", { $0.resolvedConfig["epochs"] = "6" }),
      ("resolvedConfig key", { $0.resolvedConfig["extra"] = "" }),
      ("seed", { $0.seed = 2 }),
      ("worldSize", { $0.worldSize = 4 }),
      ("tandemVersion", { $0.code.tandemVersion = "0.1.1" }),
      ("gitCommit", { $0.code.gitCommit = nil }),
      ("gitDirty", { $0.code.gitDirty = true }),
    ]
    let environment: [(String, (inout EnvironmentInfo) -> Void)] = [
      ("os", { $0.os = "Ubuntu" }), ("kernel", { $0.kernel = "6.2" }), ("cpuModel", { $0.cpuModel = "Other" }),
      ("cpuFlags", { $0.cpuFlags.append("avx512f") }), ("logicalCPUs", { $0.logicalCPUs = 4 }),
      ("openBLASConfig", { $0.openBLASConfig = "OpenBLAS 0.3.26" }), ("openBLASCore", { $0.openBLASCore = "Zen" }),
      ("blasThreads", { $0.blasThreads = 2 }), ("mpiVersion", { $0.mpiVersion = "MPICH" }),
      ("hdf5Version", { $0.hdf5Version = "1.14.0" }), ("hostname", { $0.hostname = "node2" }),
    ]
    for (name, change) in environment { changes.append((name, { change(&$0.environment) })) }
    var ids: Set<String> = [base.id]
    for (name, change) in changes {
      var changed = base
      change(&changed)
      #expect(changed.id != base.id, "changing \(name) kept the id")
      ids.insert(changed.id)
    }
    #expect(ids.count == changes.count + 1)
  }

  @Test func currentEnvironmentAndCodeVersionAreFilledIn() {
    let environment = EnvironmentInfo.current(blasConfig: "OpenBLAS test", blasCore: "Core", blasThreads: 3, mpiVersion: " none\n")
    #expect(!environment.os.isEmpty && environment.os != "unknown")
    #expect(environment.cpuFlags == environment.cpuFlags.sorted())
    #expect(environment.hdf5Version.split(separator: ".").count == 3)
    #expect(environment.blasThreads == 3 && environment.mpiVersion == "none" && environment.logicalCPUs >= 1)
    let code = CodeVersion.current(repository: Fixtures.packageRoot)
    #expect(code.tandemVersion == "0.1.0")
    #expect(code.gitCommit?.count == 40, "the package is a git checkout")
    #expect(CodeVersion.current(repository: Fixtures.folder()).gitCommit == nil)
  }

  @Test func cpuInfoAndOSReleaseParsing() {
    let cpu = EnvironmentInfo.cpuInfo(text: "processor\t: 0\nmodel name\t: Fast CPU\nflags\t\t: sse2 avx fma\n\nprocessor\t: 1\nmodel name\t: Fast CPU\nflags\t: x\n")
    #expect(cpu.model == "Fast CPU" && cpu.flags == ["avx", "fma", "sse2"])
    let arm = EnvironmentInfo.cpuInfo(text: "processor\t: 0\nFeatures\t: fp asimd\nCPU part\t: 0xd0c\n")
    #expect(arm.model == "0xd0c" && arm.flags == ["asimd", "fp"])
    #expect(EnvironmentInfo.osName(text: "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n") == "Debian GNU/Linux 12 (bookworm)")
    #expect(EnvironmentInfo.osName(text: "NAME=Alpine\nVERSION_ID=3.19\n") == "Alpine 3.19")
  }

  @Test func parametersHashCoversNamesShapesAndValues() {
    let base: [(name: String, values: [Float], shape: [Int])] = [("a.weight", [1, 2, 3, 4], [2, 2]), ("a.bias", [0.5], [1])]
    #expect(parametersSHA256(base) == parametersSHA256(base))
    var renamed = base; renamed[1].name = "b.bias"
    var reshaped = base; reshaped[0].shape = [4, 1]
    var nudged = base; nudged[0].values[3] = 4.0000005
    // Bits, not values: -0 and +0 differ.
    var negativeZero = base; negativeZero.append(("c", [-0.0], [1]))
    var positiveZero = base; positiveZero.append(("c", [0.0], [1]))
    let hashes = Set([base, renamed, reshaped, nudged, Array(base.reversed()), negativeZero, positiveZero].map(parametersSHA256))
    #expect(hashes.count == 7)
  }
}

/// A GPU run's snapshot records its GPU; a re-run elsewhere is refused on
/// another architecture or cuBLAS, and a CPU snapshot has no `gpu` at all.
struct GPUSnapshotTests {
  let h200 = EnvironmentInfo.GPU(name: "NVIDIA H200", computeCapability: "9.0", multiprocessors: 132, driver: "13.0",
                                 cudaRuntime: "13.0", cublas: "13.0.2")

  @Test func theGPUIsInTheSnapshotAndChangesItsID() throws {
    var manifest = Fixtures.manifest()
    #expect(!String(decoding: manifest.canonicalJSON(), as: UTF8.self).contains("gpu"))
    let cpuID = manifest.id
    manifest.environment.gpu = h200
    let text = String(decoding: manifest.canonicalJSON(), as: UTF8.self)
    #expect(text.contains(#""gpu":{"computeCapability":"9.0","cublas":"13.0.2","cudaRuntime":"13.0","driver":"13.0","multiprocessors":132,"name":"NVIDIA H200"}"#))
    #expect(manifest.id != cpuID)
  }

  @Test func aRerunIsRefusedOnAnotherArchitectureSMCountOrCuBLASOrWithoutAGPU() {
    #expect(h200.refusal(toRerunOn: h200) == nil)
    var newerDriver = h200
    newerDriver.driver = "13.1"
    #expect(h200.refusal(toRerunOn: newerDriver) == nil)
    var a100 = h200
    a100.name = "NVIDIA A100-SXM4-80GB"
    a100.computeCapability = "8.0"
    #expect(h200.refusal(toRerunOn: a100)?.contains("compute capability 9.0") == true)
    var slice = h200
    slice.multiprocessors = 16
    #expect(h200.refusal(toRerunOn: slice)?.contains("132 SMs") == true)
    var otherBLAS = h200
    otherBLAS.cublas = "13.1.0"
    #expect(h200.refusal(toRerunOn: otherBLAS)?.contains("cuBLAS 13.0.2") == true)
    #expect(h200.refusal(toRerunOn: nil)?.contains("has none") == true)
  }
}
