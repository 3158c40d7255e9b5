import Foundation
import TandemSystem

/// One line for any error that reaches the user. Foundation's file errors
/// print as `Error Domain=NSCocoaErrorDomain Code=642 ...` dumps; they become
/// `PATH: REASON` with the operating system's reason.
public enum ErrorText {
  public static func line(_ error: any Error) -> String {
    if let cocoa = error as? CocoaError {
      let path = cocoa.filePath ?? cocoa.url?.path ?? "file"
      let underlying = (cocoa.userInfo[NSUnderlyingErrorKey] as? NSError).flatMap { $0.domain == NSPOSIXErrorDomain ? $0 : nil }
      let reason = underlying.map { SystemError(Int32($0.code)).description } ?? cocoaReason(cocoa.code)
      return "\(path): \(reason)"
    }
    return "\(error)"
  }

  private static func cocoaReason(_ code: CocoaError.Code) -> String {
    switch code {
    case .fileNoSuchFile, .fileReadNoSuchFile: return "no such file or directory"
    case .fileWriteNoPermission, .fileReadNoPermission: return "permission denied"
    case .fileWriteOutOfSpace: return "no space left on device"
    case .fileWriteVolumeReadOnly: return "read-only file system"
    case .fileWriteFileExists: return "already exists"
    default: return "cannot read or write it (error \(code.rawValue))"
    }
  }
}
