// swift-tools-version: 6.0
import PackageDescription

// One target per concern; each C library is wrapped once, in a system-library
// module whose header adds `static inline` accessors for macros Swift cannot
// import. Imports point downward only (see README "Architecture").
let package = Package(
  name: "Tandem",
  platforms: [.macOS(.v13)],
  products: [
    .executable(name: "tandem", targets: ["TandemCLI"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
    .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
  ],
  targets: [
    .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
    .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-serial", providers: [.apt(["libhdf5-dev"])]),
    .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(name: "CSystem"),
    .systemLibrary(name: "CJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
    .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
    // The CUDA backend's header only: libtandem_cuda.so is opened at run time, never linked.
    .systemLibrary(name: "CTandemCUDA"),

    // Tandem's own C: the matrix kernel of the pinned numeric path (not a wrapper).
    .target(name: "CTandemKernels"),

    .target(name: "TandemSystem", dependencies: ["CSystem"]),
    .target(name: "TandemTensor", dependencies: ["COpenBLAS", "CSystem", "CTandemKernels"]),
    .target(name: "TandemNN", dependencies: ["TandemTensor"]),
    .target(name: "TandemCUDA", dependencies: ["TandemNN", "TandemTensor", "CTandemCUDA"]),
    .target(name: "TandemDistributed", dependencies: ["TandemNN", "TandemSystem", "TandemTensor"]),
    .target(name: "TandemMPI", dependencies: ["TandemDistributed", "TandemTensor", "CMPI"]),
    .target(
      name: "TandemData",
      dependencies: ["TandemTensor", "TandemSystem", "CHDF5", "CJPEG", "CPNG", .product(name: "Crypto", package: "swift-crypto")]),
    .target(
      name: "TandemRun",
      dependencies: ["TandemNN", "TandemData", "TandemTensor", "TOMLKit", .product(name: "Crypto", package: "swift-crypto")]),
    .target(
      name: "TandemStore",
      dependencies: ["TandemRun", "TandemData", "TandemSystem", .product(name: "Crypto", package: "swift-crypto"), .product(name: "GRDB", package: "GRDB.swift")]),
    .target(
      name: "TandemTraining",
      dependencies: ["TandemRun", "TandemNN", "TandemCUDA", "TandemDistributed", "TandemData", "TandemStore", "TandemSystem", "TandemTensor", .product(name: "Crypto", package: "swift-crypto")]),
    .target(name: "TandemScoring", dependencies: ["TandemRun", "TandemStore", "TandemData", "TandemDistributed", "TandemSystem", "TandemTensor", .product(name: "Crypto", package: "swift-crypto")]),
    .target(name: "TandemMonitoring", dependencies: ["TandemScoring", "TandemRun", "TandemStore", "TandemData"]),
    .target(name: "TandemExplain", dependencies: ["TandemRun", "TandemNN", "TandemData", "TandemTensor"]),
    .target(name: "TandemReport", dependencies: ["TandemRun", "TandemStore", "TandemData", "TandemSystem"]),
    .target(name: "TandemExport", dependencies: ["TandemRun", "TandemStore", "TandemNN", "TandemData", "TandemSystem", "TandemTensor"]),
    .executableTarget(
      name: "TandemCLI",
      dependencies: [
        "TandemRun", "TandemTraining", "TandemCUDA", "TandemMPI", "TandemDistributed", "TandemData", "TandemNN", "TandemTensor", "TandemStore", "TandemMonitoring", "TandemSystem",
        "TandemScoring", "TandemExplain", "TandemReport", "TandemExport",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    .target(name: "TandemTestSupport", dependencies: ["TandemNN", "TandemSystem", "TandemTensor"]),

    // Runs one TandemMPI scenario under mpirun for TandemMPITests.
    .executableTarget(name: "TandemMPIProbe", dependencies: ["TandemMPI", "TandemDistributed"], path: "Tests/TandemMPIProbe"),
    .testTarget(name: "TandemMPITests", dependencies: ["TandemMPI", "TandemTestSupport"]),
    .testTarget(name: "TandemTensorTests", dependencies: ["TandemTensor", "TandemTestSupport"]),
    .testTarget(name: "TandemDataTests", dependencies: ["TandemData", "TandemTestSupport"], exclude: ["interop.py"]),
    .testTarget(name: "TandemNNTests", dependencies: ["TandemNN", "TandemTestSupport"]),
    .testTarget(name: "TandemDistributedTests", dependencies: ["TandemDistributed", "TandemNN", "TandemTestSupport"]),
    .testTarget(name: "TandemRunTests", dependencies: ["TandemRun", "TandemData", "TandemTensor", "TandemTestSupport"]),
    .testTarget(name: "TandemTrainingTests", dependencies: ["TandemTraining", "TandemRun", "TandemNN", "TandemTestSupport"]),
    .testTarget(name: "TandemStoreTests", dependencies: ["TandemStore", "TandemRun", "TandemTestSupport", .product(name: "Crypto", package: "swift-crypto"), .product(name: "GRDB", package: "GRDB.swift")]),
    .testTarget(name: "TandemScoringTests", dependencies: ["TandemScoring", "TandemStore", "TandemRun", "TandemData", "TandemDistributed", "TandemNN"]),
    .testTarget(name: "TandemMonitoringTests", dependencies: ["TandemMonitoring", "TandemRun", "TandemTestSupport"]),
    .testTarget(name: "TandemExplainTests", dependencies: ["TandemExplain", "TandemRun", "TandemTraining", "TandemNN", "TandemData", "TandemTensor", "TandemTestSupport"]),
    .testTarget(name: "TandemCLITests", dependencies: ["TandemTestSupport", "TandemRun", "TandemTraining", "TandemData", "TandemTensor", "TandemStore"],
                exclude: ["Resources"]),
    .testTarget(name: "TandemReportTests", dependencies: ["TandemReport", "TandemRun", "TandemData"]),
  ]
)
