import Foundation
import Testing
import TandemMPI
import TandemTestSupport

/// TandemMPI under a real mpirun, through a small probe program: every
/// collective gives its closed-form result on 2 and 3 ranks, and each way a
/// rank can fail ends the whole job, quickly, with one clear line.
/// The probe, built beside `tandem` with the package.
let probePath = TandemProcess.binary.deletingLastPathComponent().appendingPathComponent("TandemMPIProbe").path

@Suite(.serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: probePath), "the probe is built with the package"))
struct MPICommunicatorTests {
  func probe(_ scenario: String, ranks: Int, timeout: Double = 120) throws -> TandemProcess.Output {
    try TandemProcess.run([], timeout: timeout, executable: "/usr/bin/env",
                          arguments: ["mpirun", "--oversubscribe", "-np", String(ranks), probePath, scenario])
  }

  @Test func theLibraryVersionNamesOpenMPI() {
    #expect(MPICommunicator.libraryVersion.contains("Open MPI"), "\(MPICommunicator.libraryVersion)")
  }

  @Test(arguments: [2, 3, 4]) func everyCollectiveGivesItsClosedForm(ranks: Int) throws {
    let run = try probe("collectives", ranks: ranks)
    #expect(run.status == 0, "\(run)")
    for rank in 0..<ranks { #expect(run.stdout.contains("ok rank \(rank) of \(ranks)"), "\(run)") }
  }

  @Test func aRankThatThrowsEndsEveryRank() throws {
    let run = try probe("throw", ranks: 3, timeout: 60)
    #expect(run.status != 0 && run.seconds < 60, "\(run)")
    #expect(run.stderr.contains("tandem: rank 1: probe failure"), "\(run)")
  }

  @Test func anAgreedFailureIsReportedOnceAndExitsOne() throws {
    let run = try probe("agreed", ranks: 3, timeout: 60)
    #expect(run.status == 1, "\(run)")
    let lines = run.stderr.split(separator: "\n").filter { $0.hasPrefix("tandem:") }
    #expect(lines == ["tandem: rank 1: bad input on one rank"], "\(run)")
  }

  @Test func aStalledRankIsNamedWithinTheTimeout() throws {
    let run = try probe("stall", ranks: 2, timeout: 50)
    #expect(run.status != 0 && run.seconds < 45, "\(run)")
    #expect(run.stderr.contains("tandem: stall:") && run.stderr.contains("rank 1 (host ") && run.stderr.contains("did not arrive"), "\(run)")
  }
}
