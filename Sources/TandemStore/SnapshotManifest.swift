import Crypto
import Foundation
import TandemData

/// Everything a run started from, fixed before its first step: the data (by
/// content hash), the run file as given and every setting after defaults, the
/// seed, the world size, the code and the machine.
///
/// Its id is the SHA-256 of `canonicalJSON()`, so equal inputs give equal ids
/// and a change to any field (one byte of the config, one CPU flag) gives a
/// new one. The stored file `snapshots/<id>.json` holds exactly those bytes:
/// `sha256sum` of the file is its name.
public struct SnapshotManifest: Codable, Equatable, Sendable {
  /// Written into the canonical JSON as `format`; a future change of fields
  /// bumps it, so old and new manifests can never share an id.
  public static let format = "tandem-snapshot-v1"

  /// `content_sha256` of the Tandem HDF5 dataset (its logical contents; see TandemData's `ContentHash`).
  public var datasetSHA256: String
  /// The dataset's file name as the user gave it, for people; the store keeps it as `datasets/<sha256>.h5`.
  public var datasetFileName: String
  /// The run file as given, byte for byte.
  public var configTOML: String
  /// Every setting after defaults were applied, as strings (floating-point values as written).
  public var resolvedConfig: [String: String]
  public var seed: UInt64
  public var worldSize: Int
  public var code: CodeVersion
  public var environment: EnvironmentInfo

  public init(datasetSHA256: String, datasetFileName: String, configTOML: String, resolvedConfig: [String: String],
              seed: UInt64, worldSize: Int, code: CodeVersion, environment: EnvironmentInfo) {
    self.datasetSHA256 = datasetSHA256
    self.datasetFileName = datasetFileName
    self.configTOML = configTOML
    self.resolvedConfig = resolvedConfig
    self.seed = seed
    self.worldSize = worldSize
    self.code = code
    self.environment = environment
  }

  /// The canonical serialisation (see `CanonicalJSON`): keys are the property
  /// names, sorted; an absent optional is left out rather than written as null.
  public func canonicalJSON() -> Data {
    Data(canonicalValue.text.utf8)
  }

  /// SHA-256 of `canonicalJSON()`, 64 lower-case hex digits.
  public var id: String {
    sha256Hex(canonicalJSON())
  }

  public var canonicalValue: CanonicalJSON {
    .object([
      "format": .string(Self.format),
      "datasetSHA256": .string(datasetSHA256),
      "datasetFileName": .string(datasetFileName),
      "configTOML": .string(configTOML),
      "resolvedConfig": .object(resolvedConfig.mapValues { .string($0) }),
      "seed": .unsigned(seed),
      "worldSize": .integer(Int64(worldSize)),
      "code": code.canonicalValue,
      "environment": environment.canonicalValue,
    ])
  }

  /// Reads a manifest written by `canonicalJSON()`; `path` names the file in errors.
  public static func decode(_ data: Data, path: String) throws(StoreError) -> SnapshotManifest {
    struct Format: Decodable { var format: String? }
    let format: String?
    let manifest: SnapshotManifest
    do {
      format = try JSONDecoder().decode(Format.self, from: data).format
      manifest = try JSONDecoder().decode(SnapshotManifest.self, from: data)
    } catch {
      throw StoreError(path: path, message: "not a readable snapshot manifest: \(error)")
    }
    guard format == Self.format else {
      throw StoreError(path: path, message: "snapshot format '\(format ?? "none")', this Tandem reads \(Self.format)")
    }
    return manifest
  }
}

/// Lower-case hex SHA-256 of `data`, as `sha256sum` prints it.
func sha256Hex(_ data: Data) -> String {
  hexString(SHA256.hash(data: data))
}
