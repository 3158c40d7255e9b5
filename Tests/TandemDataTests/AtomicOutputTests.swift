import Foundation
import Testing
import TandemData

/// Two ingests started at once for the same new output: one wins, the other
/// is told and replaces nothing (they used to both succeed, one silently
/// overwriting the other).
@Test func twoJobsWritingTheSameNewOutputLeaveOneWinnerAndTellTheOther() throws {
  let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-atomic-\(UUID().uuidString)").path
  try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
  let path = folder + "/out.h5"
  let first = try AtomicOutput(path: path, replacing: false)
  let second = try AtomicOutput(path: path, replacing: false)
  try Data("first".utf8).write(to: URL(fileURLWithPath: first.temporaryPath))
  try first.commit()
  do {
    try second.commit()
    Issue.record("the second job replaced the first one's output")
  } catch {
    #expect(error.description.contains("was created by another job while this one ran (pass --force to replace it)"), "\(error)")
  }
  #expect(try String(contentsOfFile: path, encoding: .utf8) == "first")
  // With --force the later job replaces, as asked.
  let forced = try AtomicOutput(path: path, replacing: true)
  try Data("forced".utf8).write(to: URL(fileURLWithPath: forced.temporaryPath))
  try forced.commit()
  #expect(try String(contentsOfFile: path, encoding: .utf8) == "forced")
}
