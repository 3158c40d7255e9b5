import Foundation
import TandemData

/// Paths and shared fixtures for the data tests.
enum Fixtures {
  /// The package root, found from this file's path (Tests/TandemDataTests/Fixtures.swift).
  static let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
  }()

  /// Real data: $TANDEM_SHARED_DATA, else ../shared/data beside the package.
  static let sharedData: String = {
    if let path = ProcessInfo.processInfo.environment["TANDEM_SHARED_DATA"], !path.isEmpty { return path }
    return URL(fileURLWithPath: packageRoot).deletingLastPathComponent().appendingPathComponent("shared/data").path
  }()

  static var telcoCSV: String { sharedData + "/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv" }
  static var xrayTrain: String { sharedData + "/chest-xray/train-224" }
  static var xrayFullResolution: String { sharedData + "/chest-xray/val-fullres" }
  static var sampleDirectory: String { packageRoot + "/Data/sample" }

  static let hasSharedData = FileManager.default.fileExists(atPath: telcoCSV)
    && FileManager.default.fileExists(atPath: xrayTrain)

  /// One folder per test process for outputs, removed at exit.
  static let scratch: String = {
    let path = NSTemporaryDirectory() + "tandem-data-tests-\(getpid())"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "tandem-data-tests-\(getpid())") }
    return path
  }()

  /// A new empty folder under `scratch`.
  static func folder(_ name: String = UUID().uuidString) -> String {
    let path = scratch + "/" + name
    try? FileManager.default.removeItem(atPath: path)
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// The whole 5,216-image training set ingested once at 128 x 128 and shared by
  /// every test that reads it (the ingest takes a couple of seconds in release).
  static var xrayDataset: (path: String, hash: String) { get throws { try xrayIngest.get() } }
  private static let xrayIngest = Result { () throws -> (path: String, hash: String) in
    let path = folder("xray-shared") + "/xray.h5"
    var options = ImageIngestOptions()
    options.tandemVersion = "test"
    let summary = try ImageIngest.run(directory: xrayTrain, output: try AtomicOutput(path: path, replacing: false), options: options)
    return (path, summary.contentSHA256)
  }

  /// The Telco CSV ingested once with the default policy.
  static var telcoDataset: (path: String, hash: String) { get throws { try telcoIngest.get() } }
  private static let telcoIngest = Result { () throws -> (path: String, hash: String) in
    let path = folder("telco-shared") + "/churn.h5"
    let summary = try TableIngest.run(csv: telcoCSV, output: try AtomicOutput(path: path, replacing: false), options: telcoOptions())
    return (path, summary.contentSHA256)
  }

  static func telcoOptions() -> TableIngestOptions {
    var options = TableIngestOptions()
    options.labelColumn = "Churn"
    options.idColumn = "customerID"
    options.tandemVersion = "test"
    return options
  }

  /// A small folder of generated images: NORMAL and PNEUMONIA, gray and RGB,
  /// JPEG and PNG, with names in the public data set's pattern.
  static func makeImageFolder(_ root: String, size: Int = 40) throws -> [String] {
    var written: [String] = []
    for cls in ["NORMAL", "PNEUMONIA"] {
      try FileManager.default.createDirectory(atPath: root + "/" + cls, withIntermediateDirectories: true)
    }
    for k in 0..<12 {
      let image = gradient(width: size + k, height: size + 2 * k, seed: k)
      let name: String
      switch k % 4 {
      case 0: name = "NORMAL/IM-\(1000 + k / 2)-0001.jpeg"
      case 1: name = "NORMAL/NORMAL2-IM-\(2000 + k)-0001.png"
      case 2: name = "PNEUMONIA/person\(k / 4)_bacteria_\(k).jpeg"
      default: name = "PNEUMONIA/person\(k / 4)_virus_\(k).png"
      }
      let path = root + "/" + name
      if name.hasSuffix(".png") {
        try ImageEncoder.writePNG(image, to: path, rgb: k % 3 == 0)
      } else {
        _ = FileManager.default.createFile(atPath: path, contents: Data(try ImageEncoder.jpeg(image, rgb: k % 3 == 0)))
      }
      written.append(path)
    }
    return written
  }

  static func gradient(width: Int, height: Int, seed: Int) -> GrayImage {
    var pixels = [UInt8](repeating: 0, count: width * height)
    for y in 0..<height {
      for x in 0..<width { pixels[y * width + x] = UInt8((x * 3 + y * 5 + seed * 17) % 256) }
    }
    return GrayImage(width: width, height: height, pixels: pixels)
  }

  /// Names in `folder` (not recursive), for checking that nothing was left behind.
  static func contents(_ folder: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
  }
}
