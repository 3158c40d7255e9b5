import Foundation
import TandemNN

extension ModelExport {
  /// The parameters alone as a safetensors file (`safetensors.torch.load_file`
  /// gives a PyTorch state dict): float32 tensors in PyTorch's layouts under
  /// PyTorch's module names (a GroupNorm's scale and shift are its `weight`
  /// and `bias`), and the export's metadata as `__metadata__`.
  public func safetensors() -> [UInt8] {
    let tensors: [(name: String, value: [Float], shape: [Int])] = model.layers.flatMap { layer in
      layer.parameters.map { p in
        var name = p.name
        if layer is GroupNorm {
          name = layer.name + (p.name.hasSuffix(".scale") ? ".weight" : ".bias")
        }
        return (name, p.value.scalars, p.value.shape)
      }
    }
    func quoted(_ s: String) -> String { String(decoding: try! JSONEncoder().encode(s), as: UTF8.self) }
    var entries: [String] = ["\"__metadata__\":{" + metadata.map { "\(quoted($0.key)):\(quoted($0.value))" }.joined(separator: ",") + "}"]
    var offset = 0
    for t in tensors {
      let end = offset + 4 * t.value.count
      entries.append("\(quoted(t.name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],"
                     + "\"data_offsets\":[\(offset),\(end)]}")
      offset = end
    }
    var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
    // Spaces to an 8-byte boundary, so readers can map the data aligned.
    while (8 + header.count) % 8 != 0 { header.append(0x20) }
    var out = [UInt8]()
    out.reserveCapacity(8 + header.count + offset)
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { out += $0 }
    out += header
    for t in tensors {
      for f in t.value { withUnsafeBytes(of: f.bitPattern.littleEndian) { out += $0 } }
    }
    return out
  }
}
