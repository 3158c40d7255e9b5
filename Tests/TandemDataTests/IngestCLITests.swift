import Foundation
import Testing
import TandemData

/// Runs the built `tandem` on bad inputs: each must exit non-zero with one
/// line `tandem: <file>: ...` on stderr and leave no output or temporary file.
@Suite(.enabled(if: TandemBinary.path != nil))
struct IngestCLITests {
  struct Outcome {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  func tandem(_ arguments: String...) throws -> Outcome {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: TandemBinary.path!)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Outcome(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                   stderr: String(decoding: stderr, as: UTF8.self))
  }

  /// Exit 1, exactly one stderr line starting `tandem: ` and containing `names`, and an empty output folder.
  func expectRefused(_ outcome: Outcome, naming names: String..., outputFolder: String,
                     sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(outcome.status == 1, "exit \(outcome.status): \(outcome.stderr)", sourceLocation: sourceLocation)
    let lines = outcome.stderr.split(separator: "\n", omittingEmptySubsequences: true)
    #expect(lines.count == 1, "stderr: \(outcome.stderr)", sourceLocation: sourceLocation)
    #expect(outcome.stderr.hasPrefix("tandem: "), sourceLocation: sourceLocation)
    for name in names { #expect(outcome.stderr.contains(name), "\(name) not in: \(outcome.stderr)", sourceLocation: sourceLocation) }
    #expect(Fixtures.contents(outputFolder).isEmpty, "left behind: \(Fixtures.contents(outputFolder))",
            sourceLocation: sourceLocation)
  }

  func imageFolder() throws -> String {
    let folder = Fixtures.folder()
    _ = try Fixtures.makeImageFolder(folder, size: 24)
    return folder
  }

  func csv(_ text: String) throws -> String {
    let path = Fixtures.folder() + "/input.csv"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  let goodCSV = "id,age,plan,Churn\r\na1,30,basic,No\r\na2,41,pro,Yes\r\na3,25,basic,No\r\na4,52,pro,No\r\n"

  @Test func truncatedJPEG() throws {
    let folder = try imageFolder()
    let bad = folder + "/PNEUMONIA/person7_virus_70.jpeg"
    let bytes = try ImageEncoder.jpeg(Fixtures.gradient(width: 40, height: 40, seed: 4))
    #expect(FileManager.default.createFile(atPath: bad, contents: Data(bytes.prefix(bytes.count * 2 / 3))))
    let out = Fixtures.folder()
    expectRefused(try tandem("ingest", "images", folder, "--out", out + "/x.h5", "--size", "16"),
                  naming: bad, "cannot decode JPEG", outputFolder: out)
  }

  @Test func nonImageFileInAClassFolder() throws {
    let folder = try imageFolder()
    let bad = folder + "/NORMAL/notes.txt"
    try "not an image".write(toFile: bad, atomically: true, encoding: .utf8)
    let out = Fixtures.folder()
    expectRefused(try tandem("ingest", "images", folder, "--out", out + "/x.h5"), naming: bad, outputFolder: out)
  }

  @Test func nonImageBytesWithAnImageName() throws {
    let folder = try imageFolder()
    let bad = folder + "/NORMAL/IM-9999-0001.png"
    try "id,value\n1,2\n".write(toFile: bad, atomically: true, encoding: .utf8)
    let out = Fixtures.folder()
    expectRefused(try tandem("ingest", "images", folder, "--out", out + "/x.h5"),
                  naming: bad, "not a JPEG or PNG image", outputFolder: out)
  }

  @Test func emptyFolders() throws {
    let empty = Fixtures.folder()
    let out = Fixtures.folder()
    expectRefused(try tandem("ingest", "images", empty, "--out", out + "/x.h5"), naming: empty, "no class folders",
                  outputFolder: out)
    try FileManager.default.createDirectory(atPath: empty + "/NORMAL", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: empty + "/PNEUMONIA", withIntermediateDirectories: true)
    expectRefused(try tandem("ingest", "images", empty, "--out", out + "/x.h5"), naming: empty + "/NORMAL", "no images",
                  outputFolder: out)
  }

  @Test func csvWithARaggedRow() throws {
    let path = try csv("id,age,plan,Churn\na1,30,basic,No\na2,41,Yes\n")
    let out = Fixtures.folder()
    expectRefused(try tandem("ingest", "csv", path, "--label", "Churn", "--id", "id", "--out", out + "/c.h5"),
                  naming: path, "line 3", "ragged", outputFolder: out)
  }

  @Test func csvWithAnUnknownLabelValue() throws {
    let path = try csv(goodCSV + "a5,33,pro,Maybe\r\n")
    let out = Fixtures.folder()
    expectRefused(try tandem("ingest", "csv", path, "--label", "Churn", "--out", out + "/c.h5"),
                  naming: path, "line 6", "'Maybe'", outputFolder: out)
  }

  @Test func csvWithoutTheLabelColumn() throws {
    let path = try csv(goodCSV)
    let out = Fixtures.folder()
    expectRefused(try tandem("ingest", "csv", path, "--label", "Exited", "--out", out + "/c.h5"),
                  naming: path, "no label column 'Exited'", outputFolder: out)
  }

  @Test func existingOutputIsRefusedUnlessForced() throws {
    let path = try csv(goodCSV)
    let out = Fixtures.folder()
    let target = out + "/c.h5"
    try "precious".write(toFile: target, atomically: true, encoding: .utf8)
    let refused = try tandem("ingest", "csv", path, "--label", "Churn", "--out", target)
    #expect(refused.status == 1 && refused.stderr == "tandem: \(target): already exists (pass --force to replace it)\n")
    #expect(try String(contentsOfFile: target, encoding: .utf8) == "precious")
    #expect(Fixtures.contents(out) == ["c.h5"])
    let forced = try tandem("ingest", "csv", path, "--label", "Churn", "--id", "id", "--out", target, "--force")
    #expect(forced.status == 0, "\(forced.stderr)")
    #expect(Fixtures.contents(out) == ["c.h5"])
    let verify = try tandem("dataset", "verify", target)
    #expect(verify.status == 0 && verify.stdout.contains("ok"))
    let inspect = try tandem("dataset", "inspect", target)
    #expect(inspect.status == 0 && inspect.stdout.contains("4 samples") && inspect.stdout.contains("age"))
  }

  @Test func unwritableOutputDirectory() throws {
    let path = try csv(goodCSV)
    let missing = Fixtures.folder() + "/no/such/dir/c.h5"
    let outcome = try tandem("ingest", "csv", path, "--label", "Churn", "--out", missing)
    #expect(outcome.status == 1)
    #expect(outcome.stderr.hasPrefix("tandem: \(missing): cannot create output in"))
    // Root writes through permission bits, so a read-only folder only tests anything for other users.
    if getuid() != 0 {
      let locked = Fixtures.folder()
      chmod(locked, 0o555)
      defer { chmod(locked, 0o755) }
      let denied = try tandem("ingest", "csv", path, "--label", "Churn", "--out", locked + "/c.h5")
      expectRefused(denied, naming: locked + "/c.h5", "Permission denied", outputFolder: locked)
    }
    let file = Fixtures.folder() + "/plain"
    try "x".write(toFile: file, atomically: true, encoding: .utf8)
    let notDir = try tandem("ingest", "csv", path, "--label", "Churn", "--out", file + "/c.h5")
    #expect(notDir.status == 1 && notDir.stderr.contains("Not a directory"))
  }

  @Test func verifyFailsOnATamperedFile() throws {
    let path = try csv(goodCSV)
    let out = Fixtures.folder()
    let target = out + "/c.h5"
    #expect(try tandem("ingest", "csv", path, "--label", "Churn", "--out", target).status == 0)
    do {
      let file = try HDF5File(updatingAt: target, displayPath: target)
      let features = try file.dataset("/features")
      try features.writeRows(start: 1, rowCount: 1, [Float](repeating: 7, count: features.rowElements))
      try file.close()
    }
    let verify = try tandem("dataset", "verify", target)
    #expect(verify.status == 1 && verify.stderr.hasPrefix("tandem: \(target): content hash mismatch"))
  }

  @Test func missingOrNonHDF5FilesAreOneLineErrors() throws {
    let missing = Fixtures.folder() + "/absent.h5"
    let outcome = try tandem("dataset", "inspect", missing)
    #expect(outcome.status == 1 && outcome.stderr.hasPrefix("tandem: \(missing): cannot open"))
    let text = try csv(goodCSV)
    let notHDF5 = try tandem("dataset", "verify", text)
    #expect(notHDF5.status == 1 && notHDF5.stderr == "tandem: \(text): not an HDF5 file\n")
  }
}

enum TandemBinary {
  /// $TANDEM_BIN, else a release (then debug) build under .build-data or .build.
  static let path: String? = {
    if let path = ProcessInfo.processInfo.environment["TANDEM_BIN"], !path.isEmpty { return path }
    let root = Fixtures.packageRoot
    return [".build-data/release", ".build/release", ".build-data/debug", ".build/debug"]
      .map { "\(root)/\($0)/tandem" }
      .first { FileManager.default.isExecutableFile(atPath: $0) }
  }()

}
