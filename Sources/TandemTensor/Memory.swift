import CSystem

public enum Memory {
  /// Keeps freed large blocks in the heap instead of returning them to the OS.
  ///
  /// A training step allocates activations of tens of MB and frees them at the
  /// end of the step. glibc serves blocks that large with fresh `mmap`s, so
  /// every step would page-fault and zero them again (measured: about a third
  /// of an xray-cnn step). With these settings the next step reuses the same
  /// pages. The corresponding C function is `mallopt`.
  public static func retainFreedBlocksForReuse() {
    _ = mallopt(M_MMAP_THRESHOLD, 1 << 30)
    _ = mallopt(M_TRIM_THRESHOLD, Int32.max)
  }
}
