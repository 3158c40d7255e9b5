import CHDF5
import Foundation
import TandemSystem

/// A failed HDF5 call. `description` is one line naming the file, and the
/// dataset or attribute where there is one: `xray.h5: /images: cannot read rows`.
public enum HDF5Failure: FileErrorKind {}
public typealias HDF5Error = FileError<HDF5Failure>

/// Turns off HDF5's automatic error printing on the calling thread. In the
/// thread-safe build each thread has its own error stack with its own setting,
/// so every entry point that may fail calls this, not only the first one.
@inline(__always)
func silenceHDF5Errors() {
  H5Eset_auto2(CHDF5_error_stack_default(), nil, nil)
}

/// Builds the error after clearing this thread's HDF5 error stack: a stack
/// left dirty on a worker thread makes process exit print "HDF5: infinite
/// loop closing library" (STYLE.md section 6).
func hdf5Failure(_ path: String, _ message: String) -> HDF5Error {
  // HDF5's own message never says why a write failed; the C library's errno does.
  let cause = SystemError()
  H5Eclear2(CHDF5_error_stack_default())
  if [ENOSPC, EFBIG, EDQUOT].contains(cause.code) {
    return HDF5Error(path: path, message: message + " (the disk is full or the file-size limit is reached: \(cause))")
  }
  return HDF5Error(path: path, message: message)
}

/// Throws unless an HDF5 status return (`herr_t`) is non-negative.
@inline(__always)
func check(_ status: herr_t, _ path: String, _ message: @autoclosure () -> String) throws(HDF5Error) {
  if status < 0 { throw hdf5Failure(path, message()) }
}

/// Throws unless an HDF5 identifier return (`hid_t`) is valid, and returns it.
@inline(__always)
@discardableResult
func check(_ id: hid_t, _ path: String, _ message: @autoclosure () -> String) throws(HDF5Error) -> hid_t {
  if id < 0 { throw hdf5Failure(path, message()) }
  return id
}
