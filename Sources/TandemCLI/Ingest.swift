import ArgumentParser
import Foundation
import TandemData

extension Tandem {
  struct Ingest: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Turn a CSV export or folders of images into an HDF5 dataset.",
      discussion: """
        The output is written under a temporary name beside OUT and renamed into
        place when complete; on any error nothing is left behind. See
        docs/data-format.md for the layout.
        """,
      subcommands: [CSV.self, Images.self])
  }
}

/// Flags both ingests share.
struct IngestOptions: ParsableArguments, UsageChecked {
  @Option(name: .customLong("out"), help: "Output HDF5 file.") var output: String
  @Flag(help: "Replace OUT if it exists.") var force = false
  @Option(help: "Seed for the train/val/test split.") var seed: UInt64 = 1
  // `.unconditional`: a negative number is the value, not a missing one, so
  // validate() can say what is wrong with it.
  @Option(name: .customLong("val-fraction"), parsing: .unconditional, help: "Fraction of samples for validation.")
  var validationFraction = 0.1
  @Option(name: .customLong("test-fraction"), parsing: .unconditional, help: "Fraction of samples for test.")
  var testFraction = 0.2

  func checkUsage() throws {
    guard validationFraction >= 0, testFraction >= 0, validationFraction + testFraction < 1 else {
      throw ValidationError("--val-fraction and --test-fraction must be >= 0 and sum below 1, got \(validationFraction) and \(testFraction)")
    }
  }
}

extension Tandem.Ingest {
  struct Images: ParsableCommand, UsageChecked {
    static let configuration = CommandConfiguration(
      abstract: "Ingest DIR/CLASS/*.jpeg|png as grayscale uint8 [N, size, size].",
      discussion: """
        tandem ingest images chest-xray/train --size 128 --out xray.h5

        Exactly two class folders: NORMAL is label 0, the other (PNEUMONIA) label 1.
        The pneumonia subtype (bacteria/virus) and the patient (personN) come from
        the file names; the split keeps each patient in one split.
        """)

    @Argument(help: "Folder holding one sub-folder per class.") var directory: String
    @OptionGroup var common: IngestOptions
    @Option(help: "Side of the stored square images.") var size = 128
    @Option(help: "Decoding threads (default: all cores).") var threads: Int?
    @Option(name: .customLong("chunk-images"),
            help: "Images per HDF5 chunk (default: about 1 MiB of images; 0: contiguous).")
    var chunkImages: Int?

    func checkUsage() throws {
      try common.checkUsage()
      guard size > 0 && size <= 4096 else { throw ValidationError("--size must be in 1...4096, got \(size)") }
      if let threads, threads <= 0 { throw ValidationError("--threads must be positive, got \(threads)") }
      if let chunkImages, chunkImages < 0 { throw ValidationError("--chunk-images must be >= 0, got \(chunkImages)") }
    }

    func run() throws {
      let output = try AtomicOutput(path: common.output, replacing: common.force)
      var options = ImageIngestOptions()
      options.size = size
      options.seed = common.seed
      options.validationFraction = common.validationFraction
      options.testFraction = common.testFraction
      options.tandemVersion = Tandem.version
      if let threads { options.threads = threads }
      options.chunkImages = chunkImages
      var lastReport = Date.distantPast
      let summary = try ImageIngest.run(directory: directory, output: output, options: options) { done, total, seconds in
        if done == total || Date().timeIntervalSince(lastReport) >= 1 {
          lastReport = Date()
          printNow("ingest: \(done)/\(total) images, \(Int(Double(done) / max(seconds, 1e-9))) images/s")
        }
      }
      printNow("wrote \(summary.path): \(summary.count) images in \(String(format: "%.1f", summary.seconds)) s "
               + "(\(Int(summary.itemsPerSecond)) images/s), content sha256 \(summary.contentSHA256)")
    }
  }
}

extension Tandem.Ingest {
  struct CSV: ParsableCommand, UsageChecked {
    static let configuration = CommandConfiguration(
      commandName: "csv",
      abstract: "Ingest a CSV export as float32 features [N, d] with labels, ids and column metadata.",
      discussion: """
        tandem ingest csv telco.csv --label Churn --id customerID --out churn.h5

        Numeric columns are kept raw (the train split's mean and std are stored
        beside them); categorical columns are one-hot encoded. A JSON --config
        overrides column kinds and the missing-value policy, e.g.
        {"kinds": {"SeniorCitizen": "categorical"}, "missing": {"numeric": "mean"}}.
        The default policy imputes a missing number with the train split's mean
        and gives a missing category its own "(missing)" value.
        """)

    @Argument(help: "CSV file with a header row.") var input: String
    @OptionGroup var common: IngestOptions
    @Option(help: "Label column.") var label = "Churn"
    @Option(help: "Row id column (default: row numbers).") var id: String?
    @Option(help: "Label value of the positive class (1).") var positive = "Yes"
    @Option(help: "Label value of the negative class (0).") var negative = "No"
    @Option(help: "JSON file with schema overrides and the missing-value policy.") var config: String?

    func checkUsage() throws { try common.checkUsage() }

    func run() throws {
      let output = try AtomicOutput(path: common.output, replacing: common.force)
      var options = TableIngestOptions()
      options.labelColumn = label
      options.idColumn = id
      options.positive = positive
      options.negative = negative
      options.seed = common.seed
      options.validationFraction = common.validationFraction
      options.testFraction = common.testFraction
      options.tandemVersion = Tandem.version
      if let config { options.config = try TableConfig(contentsOf: config) }
      let summary = try TableIngest.run(csv: input, output: output, options: options)
      printNow("wrote \(summary.path): \(summary.count) rows in \(String(format: "%.2f", summary.seconds)) s, "
               + "content sha256 \(summary.contentSHA256)")
    }
  }
}
