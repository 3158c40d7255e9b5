import Foundation
import Testing

/// The README's architecture table is the map a newcomer reads first: each
/// module's imports there must be exactly what its sources import and what
/// Package.swift declares, and every module must say in its first file what
/// it must not import.
struct ArchitectureTests {
  static let root: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
  }()

  /// `TandemX` for `X`, C modules as written.
  /// `Run` → `TandemRun`; C modules and names already in full (`TandemCUDA`,
  /// whose short form would read as a C module) stay as they are.
  static func moduleName(_ short: String) -> String {
    isCModule(short) || short.hasPrefix("Tandem") ? short : "Tandem" + short
  }

  /// `CMPI`, `CSystem`: a system-library module.
  static func isCModule(_ name: String) -> Bool { name.hasPrefix("C") && name.dropFirst().first?.isUppercase == true }

  /// Target → the Tandem and C modules its README row lists.
  static func readmeImports() throws -> [String: Set<String>] {
    let text = try String(contentsOfFile: root + "/README.md", encoding: .utf8)
    var rows: [String: Set<String>] = [:]
    for line in text.split(separator: "\n") where line.hasPrefix("| `Tandem") {
      let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
      guard cells.count >= 4 else { continue }
      let target = cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
      let listed = cells[3]
      rows[target] = listed == "all" ? ["all"] : Set(listed.split(separator: ",").map {
        moduleName($0.trimmingCharacters(in: .whitespaces))
      }.filter { $0 != "Tandem" })
    }
    return rows
  }

  /// Target → the Tandem and C modules its sources import.
  static func sourceImports() throws -> [String: Set<String>] {
    var imports: [String: Set<String>] = [:]
    let sources = root + "/Sources"
    for target in try FileManager.default.contentsOfDirectory(atPath: sources) where target.hasPrefix("Tandem") {
      var found = Set<String>()
      for file in try FileManager.default.contentsOfDirectory(atPath: sources + "/" + target) where file.hasSuffix(".swift") {
        let text = try String(contentsOfFile: sources + "/" + target + "/" + file, encoding: .utf8)
        for line in text.split(separator: "\n") where line.hasPrefix("import ") {
          let module = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces)
          if module.hasPrefix("Tandem") || Self.isCModule(module) {
            found.insert(module)
          }
        }
      }
      imports[target] = found
    }
    return imports
  }

  @Test func theReadmeTableListsEachModulesImportsExactly() throws {
    let readme = try Self.readmeImports(), sources = try Self.sourceImports()
    #expect(Set(readme.keys) == Set(sources.keys), "README rows \(readme.keys.sorted()) vs modules \(sources.keys.sorted())")
    for (target, imported) in sources where readme[target] != ["all"] {
      #expect(readme[target] == imported, "\(target): README lists \(readme[target]?.sorted() ?? []), sources import \(imported.sorted())")
    }
  }

  @Test func packageSwiftDeclaresWhatEachModuleImports() throws {
    let package = try String(contentsOfFile: Self.root + "/Package.swift", encoding: .utf8)
    for (target, imported) in try Self.sourceImports() {
      // The target's declaration runs from its name to the closing bracket of its dependencies.
      guard let start = package.range(of: "name: \"\(target)\"") else {
        Issue.record("\(target) is not declared in Package.swift")
        continue
      }
      let declaration = package[start.upperBound...].prefix { $0 != "]" }
      for module in imported {
        #expect(declaration.contains("\"\(module)\""), "\(target) imports \(module), which Package.swift does not declare")
      }
    }
  }

  @Test func everyModuleSaysWhatItOwnsAndMustNotImport() throws {
    for target in try Self.sourceImports().keys {
      let directory = Self.root + "/Sources/" + target
      let first = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".swift") }.sorted().first
      let text = try String(contentsOfFile: directory + "/" + (first ?? ""), encoding: .utf8)
      #expect(text.contains("// Owns:") && text.contains("// Must not import:"), "\(target)/\(first ?? "?") lacks Owns / Must not import")
    }
  }
}
