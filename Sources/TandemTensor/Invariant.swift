/// Traps with `message` when `condition` is false, in every build configuration.
///
/// `precondition` drops its message in optimised builds, and Tandem runs
/// optimised; a trap that names the values involved (shapes, ranks, sizes) is
/// what turns a bug report from a cluster into a fix. Use for our own bugs only:
/// bad input from outside throws.
@inlinable
public func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                      file: StaticString = #fileID, line: UInt = #line) {
  if !condition() { fatalError(message(), file: file, line: line) }
}
