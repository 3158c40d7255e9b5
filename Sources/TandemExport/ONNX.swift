/// The part of ONNX's `onnx.proto` (IR version 8, the one opset 17 belongs
/// to) that an exported Tandem model uses, each message with its field
/// numbers from that file. Everything here is written once, by `serialized`.
public enum ONNX {
  public static let irVersion = 8
  public static let opsetVersion = 17

  /// `TensorProto.DataType`.
  public enum ElementType: Int, Sendable { case float = 1, int64 = 7 }

  /// `TensorProto`: a named constant, its numbers as little-endian `raw_data`.
  public struct Tensor: Sendable {
    public var name: String
    public var dims: [Int]
    public var type: ElementType
    public var raw: [UInt8]

    public init(name: String, dims: [Int], floats: [Float]) {
      precondition(dims.reduce(1, *) == floats.count, "\(name): \(floats.count) values for \(dims)")
      self.name = name; self.dims = dims; type = .float
      raw = floats.withUnsafeBufferPointer { b in
        var out = [UInt8](); out.reserveCapacity(b.count * 4)
        for f in b { withUnsafeBytes(of: f.bitPattern.littleEndian) { out += $0 } }
        return out
      }
    }

    public init(name: String, dims: [Int], int64s: [Int]) {
      precondition(dims.reduce(1, *) == int64s.count, "\(name): \(int64s.count) values for \(dims)")
      self.name = name; self.dims = dims; type = .int64
      raw = int64s.flatMap { v in withUnsafeBytes(of: Int64(v).littleEndian) { Array($0) } }
    }

    func encode(_ w: inout ProtobufWriter) {
      w.packedInts(1, dims)          // dims
      w.int(2, type.rawValue)        // data_type
      w.string(8, name)              // name
      w.bytes(9, raw)                // raw_data
    }
  }

  /// `AttributeProto`, the kinds the exporter sets.
  public enum Attribute: Sendable {
    case int(String, Int)
    case ints(String, [Int])
    case float(String, Float)

    func encode(_ w: inout ProtobufWriter) {
      switch self {
      case .int(let name, let v): w.string(1, name); w.int(3, v); w.int(20, 2)            // i, type INT
      case .float(let name, let v): w.string(1, name); w.float(2, v); w.int(20, 1)        // f, type FLOAT
      case .ints(let name, let v): w.string(1, name); w.packedInts(8, v); w.int(20, 7)    // ints, type INTS
      }
    }
  }

  /// `NodeProto`: one operator of the default domain.
  public struct Node: Sendable {
    public var op: String
    public var inputs: [String]
    public var outputs: [String]
    public var name: String
    public var attributes: [Attribute]

    func encode(_ w: inout ProtobufWriter) {
      for i in inputs { w.string(1, i) }
      for o in outputs { w.string(2, o) }
      w.string(3, name)
      w.string(4, op)
      for a in attributes { w.message(5) { a.encode(&$0) } }
    }
  }

  /// A dimension of a graph input or output: a number, or a name for one chosen at run time.
  public enum Dimension: Sendable, Equatable { case value(Int), symbol(String) }

  /// `ValueInfoProto` of a float tensor.
  public struct Value: Sendable {
    public var name: String
    public var dims: [Dimension]
    public var doc: String

    func encode(_ w: inout ProtobufWriter) {
      w.string(1, name)
      w.message(2) { type in                       // TypeProto
        type.message(1) { tensor in                // .tensor_type
          tensor.int(1, ElementType.float.rawValue) // elem_type
          tensor.message(2) { shape in             // TensorShapeProto
            for d in dims {
              shape.message(1) { dim in            // .dim
                switch d {
                case .value(let v): dim.int(1, v)
                case .symbol(let s): dim.string(2, s)
                }
              }
            }
          }
        }
      }
      if !doc.isEmpty { w.string(3, doc) }
    }
  }

  /// `ModelProto` with its one `GraphProto`.
  public struct Model: Sendable {
    public var graphName: String
    public var doc: String
    public var nodes: [Node] = []
    public var initializers: [Tensor] = []
    public var inputs: [Value] = []
    public var outputs: [Value] = []
    /// `metadata_props`, in order.
    public var metadata: [(key: String, value: String)] = []
    public var producerVersion: String

    public func serialized() -> [UInt8] {
      var w = ProtobufWriter()
      w.int(1, irVersion)                                  // ir_version
      w.string(2, "tandem")                                // producer_name
      w.string(3, producerVersion)                         // producer_version
      w.string(6, doc)                                     // doc_string
      w.message(7) { g in                                  // graph
        for n in nodes { g.message(1) { n.encode(&$0) } }  // node
        g.string(2, graphName)                             // name
        for t in initializers { g.message(5) { t.encode(&$0) } } // initializer
        for i in inputs { g.message(11) { i.encode(&$0) } }      // input
        for o in outputs { g.message(12) { o.encode(&$0) } }     // output
      }
      w.message(8) { $0.string(1, ""); $0.int(2, opsetVersion) } // opset_import: the default domain
      for (k, v) in metadata { w.message(14) { $0.string(1, k); $0.string(2, v) } } // metadata_props
      return w.bytes
    }
  }
}
