import Foundation

/// Which code ran: Tandem's version, and the git commit of its source tree
/// when there is one (a release tarball or a copied binary has none).
public struct CodeVersion: Codable, Equatable, Sendable {
  /// Tandem's release version; the CLI's `--version` prints the same.
  public static let tandemRelease = "0.1.0"

  public var tandemVersion: String
  /// `git rev-parse HEAD`, when the source tree is a git checkout and git is installed.
  public var gitCommit: String?
  /// True when tracked files differ from that commit: the commit alone does not reproduce the code.
  public var gitDirty: Bool?

  public init(tandemVersion: String = CodeVersion.tandemRelease, gitCommit: String? = nil, gitDirty: Bool? = nil) {
    self.tandemVersion = tandemVersion
    self.gitCommit = gitCommit
    self.gitDirty = gitDirty
  }

  /// The version of the code in `repository`, or, when nil, of the source tree
  /// the running executable was built in (SwiftPM puts it under `.build/`
  /// inside the checkout; the current directory may be an unrelated repository).
  /// Git's absence, or a directory that is not a checkout, gives no commit
  /// rather than an error. The commit is HEAD now: a binary built from an
  /// older checkout and not rebuilt would be misattributed, which is why the
  /// dirty flag and Tandem's version are recorded beside it.
  public static func current(repository: String? = nil) -> CodeVersion {
    let directory = repository ?? Bundle.main.executableURL?.deletingLastPathComponent().path
      ?? FileManager.default.currentDirectoryPath
    guard let commit = git(["rev-parse", "HEAD"], in: directory), commit.count == 40 || commit.count == 64 else {
      return CodeVersion()
    }
    let status = git(["status", "--porcelain", "--untracked-files=no"], in: directory)
    return CodeVersion(gitCommit: commit, gitDirty: status.map { !$0.isEmpty })
  }

  /// One line for people: `0.1.0 (3f9c2a1b0d4e, modified)`.
  public var summary: String {
    guard let gitCommit else { return tandemVersion }
    return "\(tandemVersion) (\(gitCommit.prefix(12))\(gitDirty == true ? ", modified" : ""))"
  }

  /// Runs git in `directory`; nil when git is missing or fails.
  static func git(_ arguments: [String], in directory: String) -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["git", "-C", directory] + arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    do { try process.run() } catch { return nil }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
  }

  public var canonicalValue: CanonicalJSON {
    var members: [String: CanonicalJSON] = ["tandemVersion": .string(tandemVersion)]
    if let gitCommit { members["gitCommit"] = .string(gitCommit) }
    if let gitDirty { members["gitDirty"] = .bool(gitDirty) }
    return .object(members)
  }
}
