import Foundation
import TandemSystem

// What every command prints with: lines written at once, aligned columns, UTC dates.

/// Writes one line to standard error (Swift 6 rejects Glibc's `stderr` global).
func printError(_ line: String) {
  FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Writes to standard output now, not when the buffer fills: progress must be
/// visible while a long step runs, and lines must not interleave across ranks.
func printNow(_ line: String) {
  SystemProcess.writeOutput(Array((line + "\n").utf8))
}

/// Rows as text columns two spaces apart, each as wide as its widest cell;
/// the last column is not padded.
func alignedColumns(_ rows: [[String]]) -> String {
  let columns = rows.map(\.count).max() ?? 0
  var widths = [Int](repeating: 0, count: columns)
  for row in rows {
    for (k, cell) in row.enumerated() where k < columns - 1 { widths[k] = max(widths[k], cell.count) }
  }
  return rows.map { row in
    row.enumerated().map { k, cell in
      k == row.count - 1 ? cell : cell.padding(toLength: widths[k], withPad: " ", startingAt: 0)
    }.joined(separator: "  ")
  }.joined(separator: "\n")
}

/// Every line of `text` indented by two spaces (no trailing blank line).
func indented(_ text: String) -> String {
  var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
  if lines.last == "" { lines.removeLast() }
  return lines.map { "  " + $0 }.joined(separator: "\n")
}

/// `2025-06-15 12:00:00Z`: UTC, so times from different machines compare.
func formatDate(_ date: Date) -> String {
  let formatter = DateFormatter()
  formatter.locale = Locale(identifier: "en_US_POSIX")
  formatter.timeZone = TimeZone(identifier: "UTC")
  formatter.dateFormat = "yyyy-MM-dd HH:mm:ss'Z'"
  return formatter.string(from: date)
}

/// `1h02m`, `3m05s`, `12.3s`.
func durationText(_ seconds: Double) -> String {
  let s = Int(seconds.rounded())
  if s >= 3600 { return String(format: "%dh%02dm", s / 3600, s % 3600 / 60) }
  if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
  return String(format: "%.1fs", seconds)
}
