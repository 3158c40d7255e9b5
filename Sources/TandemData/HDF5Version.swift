import CHDF5

/// The HDF5 library this process runs against, for run snapshots: files are
/// portable across versions, but a snapshot should say which one read them.
public enum HDF5Library {
  /// `major.minor.release` of the linked library (`H5get_libversion`), not of
  /// the headers Tandem was built with.
  public static var version: String {
    var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
    guard H5get_libversion(&major, &minor, &release) >= 0 else { return "unknown" }
    return "\(major).\(minor).\(release)"
  }
}
