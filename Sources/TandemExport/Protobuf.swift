/// The protocol-buffer wire format, writing side only: what an ONNX file
/// needs (varints, 32-bit floats, length-delimited fields, packed repeats).
/// Fields are written in the order given; a reader accepts any order.
struct ProtobufWriter {
  private(set) var bytes: [UInt8] = []

  private enum WireType: UInt64 { case varint = 0, fixed32 = 5, lengthDelimited = 2 }

  private mutating func tag(_ field: Int, _ type: WireType) { varint(UInt64(field) << 3 | type.rawValue) }

  private mutating func varint(_ value: UInt64) {
    var v = value
    while v >= 0x80 {
      bytes.append(UInt8(v & 0x7f) | 0x80)
      v >>= 7
    }
    bytes.append(UInt8(v))
  }

  /// An `int64`/`int32`/enum field; negative numbers take ten bytes, as the format says.
  mutating func int(_ field: Int, _ value: Int) {
    tag(field, .varint)
    varint(UInt64(bitPattern: Int64(value)))
  }

  mutating func float(_ field: Int, _ value: Float) {
    tag(field, .fixed32)
    withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
  }

  mutating func bytes(_ field: Int, _ value: some Collection<UInt8>) {
    tag(field, .lengthDelimited)
    varint(UInt64(value.count))
    bytes += value
  }

  mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

  /// An embedded message, written by `body` into its own buffer first (its length leads it).
  mutating func message(_ field: Int, _ body: (inout ProtobufWriter) -> Void) {
    var inner = ProtobufWriter()
    body(&inner)
    bytes(field, inner.bytes)
  }

  /// A repeated integer field, packed (one length-delimited run of varints).
  mutating func packedInts(_ field: Int, _ values: [Int]) {
    var inner = ProtobufWriter()
    for v in values { inner.varint(UInt64(bitPattern: Int64(v))) }
    bytes(field, inner.bytes)
  }
}
