import Foundation
import Testing
import TandemData

@Suite struct ImageIngestTests {
  func ingest(_ directory: String, _ configure: (inout ImageIngestOptions) -> Void = { _ in }) throws -> (String, IngestSummary) {
    var options = ImageIngestOptions()
    options.tandemVersion = "test"
    configure(&options)
    let path = Fixtures.folder() + "/images.h5"
    return (path, try ImageIngest.run(directory: directory, output: try AtomicOutput(path: path, replacing: false),
                                      options: options))
  }

  @Test func fileNamesGivePatientAndSubtype() {
    #expect(ImageIngest.patient(fromFileName: "person1000_virus_1681.jpeg") == "person1000")
    #expect(ImageIngest.patient(fromFileName: "person447_virus_921_1.jpeg") == "person447")
    #expect(ImageIngest.patient(fromFileName: "IM-0429-0001-0002.jpeg") == "IM-0429")
    #expect(ImageIngest.patient(fromFileName: "NORMAL2-IM-1345-0001.jpeg") == "NORMAL2-IM-1345")
    #expect(ImageIngest.patient(fromFileName: "scan.png") == "scan")
    #expect(ImageIngest.subtype(fromFileName: "person1_bacteria_1.jpeg") == .bacterial)
    #expect(ImageIngest.subtype(fromFileName: "person1000_virus_1681.jpeg") == .viral)
    #expect(ImageIngest.subtype(fromFileName: "IM-0115-0001.jpeg") == .none)
  }

  @Test(.enabled(if: Fixtures.hasSharedData, "needs the real data of ../shared/data (or TANDEM_SHARED_DATA)"))
  func trainingSetHas5216ImagesWithTheKnownClassBalance() throws {
    let reader = try DatasetReader(path: try Fixtures.xrayDataset.path)
    #expect(reader.kind == .images && reader.count == 5216 && reader.sampleShape == [1, 128, 128])
    #expect(reader.classNames == ["NORMAL", "PNEUMONIA"])
    #expect(reader.classCounts() == [1341, 3875])
    #expect(reader.subtypes.filter { $0 == 0 }.count == 1341)
    #expect(reader.subtypes.filter { $0 == 1 }.count == 2530)
    #expect(reader.subtypes.filter { $0 == 2 }.count == 1345)
    #expect(reader.classCounts(task: .subtype) == [2530, 1345])
    // Subtype labels only on pneumonia cases.
    let subtypeLabels = reader.labels(.subtype)
    #expect((0..<reader.count).allSatisfy { (subtypeLabels[$0] >= 0) == (reader.primaryLabels[$0] == 1) })
  }

  @Test(.enabled(if: Fixtures.hasSharedData, "needs the real data of ../shared/data (or TANDEM_SHARED_DATA)"))
  func noPatientSpansTwoSplits() throws {
    let file = try HDF5File(readingAt: try Fixtures.xrayDataset.path)
    let patients = try file.dataset("/patient").readStrings()
    let splits = try file.dataset("/split").readAll(as: UInt8.self)
    var seen: [String: UInt8] = [:]
    var crossing: Set<String> = []
    for (p, s) in zip(patients, splits) {
      if let previous = seen[p], previous != s { crossing.insert(p) }
      seen[p] = s
    }
    #expect(crossing.isEmpty, "patients in two splits: \(crossing.prefix(5))")
    #expect(seen.count > 2000)
    let test = Double(splits.filter { $0 == 2 }.count) / 5216, validation = Double(splits.filter { $0 == 1 }.count) / 5216
    #expect(abs(test - 0.2) < 0.01 && abs(validation - 0.1) < 0.01)
  }

  @Test(.enabled(if: Fixtures.hasSharedData, "needs the real data of ../shared/data (or TANDEM_SHARED_DATA)"))
  func hashIsStableAcrossIngestsThreadCountsAndChunkLayouts() throws {
    let (path, summary) = try ingest(Fixtures.xrayTrain) { options in
      options.threads = 1
      options.chunkImages = 0
    }
    #expect(try summary.contentSHA256 == Fixtures.xrayDataset.hash)
    #expect(try DatasetInspection.verify(path: path).matches)
    let a = try DatasetReader(path: path), b = try DatasetReader(path: try Fixtures.xrayDataset.path)
    #expect(try a.rawImages(indices: [0, 2000, 5215]) == b.rawImages(indices: [0, 2000, 5215]))
  }

  @Test(.enabled(if: Fixtures.hasSharedData, "needs the real data of ../shared/data (or TANDEM_SHARED_DATA)"))
  func changingOnePixelInTheFileFailsVerification() throws {
    let copy = Fixtures.folder() + "/tampered.h5"
    try FileManager.default.copyItem(atPath: try Fixtures.xrayDataset.path, toPath: copy)
    #expect(try DatasetInspection.verify(path: copy).matches)
    do {
      let file = try HDF5File(updatingAt: copy, displayPath: copy)
      let images = try file.dataset("/images")
      var row = [UInt8](repeating: 0, count: 128 * 128)
      try row.withUnsafeMutableBytes { try images.readRows(start: 1234, count: 1, into: $0.baseAddress!) }
      row[64 * 128 + 64] &+= 1
      try images.writeRows(start: 1234, rowCount: 1, row)
      try file.close()
    }
    let result = try DatasetInspection.verify(path: copy)
    #expect(try !result.matches && result.stored == Fixtures.xrayDataset.hash)
  }

  @Test func changingOnePixelInASourceImageChangesTheHash() throws {
    let folder = Fixtures.folder()
    let files = try Fixtures.makeImageFolder(folder)
    let (_, first) = try ingest(folder) { $0.size = 32 }
    let (_, again) = try ingest(folder) { $0.size = 32 }
    #expect(first.contentSHA256 == again.contentSHA256)
    let png = try #require(files.first { $0.hasSuffix(".png") })
    var image = try ImageDecoder().decode(contentsOf: png)
    image.pixels[0] &+= 1
    try ImageEncoder.writePNG(image, to: png)
    let (_, changed) = try ingest(folder) { $0.size = 32 }
    #expect(changed.contentSHA256 != first.contentSHA256)
  }

  @Test func grayAndRGBJPEGAndPNGFilesAllIngest() throws {
    let folder = Fixtures.folder()
    _ = try Fixtures.makeImageFolder(folder)
    let (path, summary) = try ingest(folder) { $0.size = 16 }
    #expect(summary.count == 12)
    let reader = try DatasetReader(path: path)
    #expect(reader.classCounts() == [6, 6])
    #expect(reader.subtypes.filter { $0 == 1 }.count == 3 && reader.subtypes.filter { $0 == 2 }.count == 3)
    let source = try HDF5File(readingAt: path).dataset("/source/files").readStrings()
    #expect(source.first == "NORMAL/IM-1000-0001.jpeg")
  }

  @Test(.enabled(if: Fixtures.hasSharedData, "needs the real data of ../shared/data (or TANDEM_SHARED_DATA)"))
  func fullResolutionFilesIngestAt128() throws {
    let (path, summary) = try ingest(Fixtures.xrayFullResolution)
    #expect(summary.count == 16)
    let reader = try DatasetReader(path: path)
    let raw = try reader.rawImages(indices: Array(0..<16))
    #expect(Set(raw).count > 100)
  }

  @Test(.enabled(if: Fixtures.hasSharedData, "needs the real data of ../shared/data (or TANDEM_SHARED_DATA)"))
  func batchesAreNormalisedWithTheTrainStatisticsInRequestOrder() throws {
    let reader = try DatasetReader(path: try Fixtures.xrayDataset.path)
    let train = reader.indices(in: .train)
    #expect(train.count == reader.sampleCounts()[.train])
    let picks = [train[50], train[3], train[50], train[1000]]
    let batch = try reader.batch(indices: picks)
    #expect(batch.input.shape == [4, 1, 128, 128])
    #expect(batch.labels == picks.map { reader.primaryLabels[$0] })
    let raw = try reader.rawImages(indices: picks)
    for k in [0, 777, 16383, 3 * 16384 + 5] {
      let expected = (Float(raw[k]) / 255 - reader.mean[0]) / reader.std[0]
      #expect(abs(batch.input.scalars[k] - expected) < 1e-5)
    }
    // Over many train images the normalised pixels have mean about 0 and std about 1.
    let big = try reader.batch(indices: Array(train.prefix(1000)))
    let n = Double(big.input.count)
    let mean = big.input.scalars.reduce(0.0) { $0 + Double($1) } / n
    let variance = big.input.scalars.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
    #expect(abs(mean) < 0.1 && abs(variance.squareRoot() - 1) < 0.1)
    let subtype = try reader.batch(indices: Array(reader.indices(in: .validation, task: .subtype).prefix(8)), task: .subtype)
    #expect(subtype.labels.allSatisfy { $0 == 0 || $0 == 1 })
  }

  @Test func libraryErrorsNameTheFileAndLeaveNoOutput() throws {
    let folder = Fixtures.folder()
    _ = try Fixtures.makeImageFolder(folder)
    let bad = folder + "/PNEUMONIA/person9_bacteria_99.jpeg"
    let bytes = try ImageEncoder.jpeg(Fixtures.gradient(width: 50, height: 50, seed: 0))
    _ = FileManager.default.createFile(atPath: bad, contents: Data(bytes.prefix(bytes.count / 2)))
    let out = Fixtures.folder()
    let error = #expect(throws: ImageError.self) {
      var options = ImageIngestOptions()
      options.size = 16
      _ = try ImageIngest.run(directory: folder, output: try AtomicOutput(path: out + "/x.h5", replacing: false), options: options)
    }
    #expect(error?.path == bad)
    #expect(Fixtures.contents(out).isEmpty)
  }
}

/// The sample bundled in Data/sample ingests without ../shared.
@Suite struct BundledSampleTests {
  @Test func bundledXraysAreBalancedAcrossTheThreeClasses() throws {
    let path = Fixtures.folder() + "/sample.h5"
    var options = ImageIngestOptions()
    options.tandemVersion = "test"
    let summary = try ImageIngest.run(directory: Fixtures.sampleDirectory + "/chest-xray",
                                      output: try AtomicOutput(path: path, replacing: false), options: options)
    #expect(summary.count == 240)
    let reader = try DatasetReader(path: path)
    #expect(reader.classCounts() == [80, 160])
    #expect(reader.classCounts(task: .subtype) == [80, 80])
    #expect(try DatasetInspection.verify(path: path).matches)
  }

  @Test func bundledTelcoCSVHasEveryRow() throws {
    let path = Fixtures.folder() + "/churn.h5"
    let summary = try TableIngest.run(csv: Fixtures.sampleDirectory + "/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv",
                                      output: try AtomicOutput(path: path, replacing: false), options: Fixtures.telcoOptions())
    #expect(summary.count == 7043)
  }
}
