import Foundation

/// The run store: content-addressed datasets, snapshots and the run registry,
/// all under one directory (being built; see issue 5).
public enum TandemStoreVersion {
  public static let layout = 1
}
