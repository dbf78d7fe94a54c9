// A small builder of ONNX graphs (named initializers, nodes with typed attributes) and the
// ModelProto's encoding, written here: export only ever writes the few messages below, and a
// hand-written protobuf writer (about 60 lines) replaces protobufjs (22 MB installed) for that.
// Field numbers are onnx.proto's; fields go out in field-number order, repeated numbers packed,
// as protobufjs wrote them (the tests compare the bytes with its encoding and run the file in
// onnxruntime).

export type Attr = number | number[] | { float: number };

/** Dimensions of a graph input or output: numbers, or a name for a dynamic size. */
export type Dims = (number | string)[];

interface Node { opType: string; input: string[]; output: string[]; name: string; attrs: [string, Attr][] }
interface Initializer { name: string; dims: number[]; rawData: Uint8Array }

export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly initializers: Initializer[] = [];
  private used = new Set<string>();

  /** A unique value name from `base` (ONNX names must be unique within the graph). */
  name(base: string): string {
    let n = base, i = 1;
    while (this.used.has(n)) n = `${base}_${i++}`;
    this.used.add(n);
    return n;
  }

  /** A float32 initializer (stored little-endian in raw_data). */
  constant(base: string, dims: number[], data: Float32Array): string {
    if (data.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`${base}: ${data.length} values for dims [${dims}]`);
    const name = this.name(base);
    const le = new Float32Array(data); // a copy, so the bytes are ours and aligned
    this.initializers.push({ name, dims, rawData: new Uint8Array(le.buffer) });
    return name;
  }

  /** Adds a node; returns its (single) output's name. Integers become INT(S), {float} a FLOAT. */
  node(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, outName?: string): string {
    const output = outName ?? this.name(`${opType.toLowerCase()}`);
    if (outName) this.used.add(outName);
    this.nodes.push({ opType, input: inputs, output: [output], name: this.name(`${opType}_${this.nodes.length}`), attrs: Object.entries(attrs) });
    return output;
  }
}

/** Protobuf wire format: varints, length-delimited fields, fixed32 floats. */
class Writer {
  private bytes: number[] = [];
  private static readonly utf8 = new TextEncoder();

  varint(v: number): this {
    // int64 / int32 negatives are ten bytes of two's complement.
    let n = BigInt.asUintN(64, BigInt(v));
    do {
      const b = Number(n & 0x7fn);
      n >>= 7n;
      this.bytes.push(n ? b | 0x80 : b);
    } while (n);
    return this;
  }
  private tag(field: number, wire: number): this { return this.varint(field * 8 + wire); }
  int(field: number, v: number): this { return this.tag(field, 0).varint(v); }
  float(field: number, v: number): this {
    const b = new Uint8Array(new Float32Array([v]).buffer);
    this.tag(field, 5).bytes.push(...b);
    return this;
  }
  raw(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length);
    for (let i = 0; i < b.length; i++) this.bytes.push(b[i]);
    return this;
  }
  string(field: number, s: string): this { return this.raw(field, Writer.utf8.encode(s)); }
  message(field: number, fill: (w: Writer) => void): this {
    const w = new Writer();
    fill(w);
    return this.raw(field, w.finish());
  }
  packed(field: number, vs: readonly number[]): this {
    return vs.length ? this.message(field, (w) => vs.forEach((v) => w.varint(v))) : this;
  }
  finish(): Uint8Array { return Uint8Array.from(this.bytes); }
}

// onnx.proto's enums.
const FLOAT = 1;
const ATTR = { FLOAT: 1, INT: 2, INTS: 7 };

function valueInfo(w: Writer, name: string, dims: Dims): void {
  // ValueInfoProto { name 1, type 2 { tensor_type 1 { elem_type 1, shape 2 { dim 1 { dim_value 1 | dim_param 2 } } } } }
  w.string(1, name).message(2, (t) => t.message(1, (tt) => tt.int(1, FLOAT).message(2, (s) => {
    for (const d of dims) s.message(1, (dm) => (typeof d === 'number' ? dm.int(1, d) : dm.string(2, d)));
  })));
}

// The IR version that goes with each opset (ONNX's versioning table): 13 -> 7, 14-18 -> 8,
// 19-20 -> 9, 21 -> 10.
function irVersion(opset: number): number {
  return opset <= 13 ? 7 : opset <= 18 ? 8 : opset <= 20 ? 9 : 10;
}

export interface ModelParts {
  graphName: string;
  input: { name: string; dims: Dims };
  output: { name: string; dims: Dims };
  opset: number;
  producerVersion: string;
  docString: string;
  metadata: Record<string, string>;
}

/** Encodes the builder's graph as an ONNX ModelProto. */
export function encodeModel(g: GraphBuilder, p: ModelParts): Uint8Array {
  const m = new Writer();
  // ModelProto { ir_version 1, producer_name 2, producer_version 3, doc_string 6, graph 7, opset_import 8, metadata_props 14 }
  m.int(1, irVersion(p.opset)).string(2, 'vnet-native').string(3, p.producerVersion).string(6, p.docString);
  m.message(7, (graph) => {
    // GraphProto { node 1, name 2, initializer 5, input 11, output 12 }
    for (const n of g.nodes) {
      // NodeProto { input 1, output 2, name 3, op_type 4, attribute 5 }
      graph.message(1, (w) => {
        n.input.forEach((s) => w.string(1, s));
        n.output.forEach((s) => w.string(2, s));
        w.string(3, n.name).string(4, n.opType);
        // AttributeProto { name 1, f 2, i 3, ints 8 (packed), type 20 }
        for (const [name, v] of n.attrs) {
          w.message(5, (a) => {
            a.string(1, name);
            if (Array.isArray(v)) a.packed(8, v).int(20, ATTR.INTS);
            else if (typeof v === 'number') a.int(3, v).int(20, ATTR.INT);
            else a.float(2, v.float).int(20, ATTR.FLOAT);
          });
        }
      });
    }
    graph.string(2, p.graphName);
    // TensorProto { dims 1 (packed), data_type 2, name 8, raw_data 9 }
    for (const t of g.initializers) graph.message(5, (w) => w.packed(1, t.dims).int(2, FLOAT).string(8, t.name).raw(9, t.rawData));
    graph.message(11, (w) => valueInfo(w, p.input.name, p.input.dims));
    graph.message(12, (w) => valueInfo(w, p.output.name, p.output.dims));
  });
  // OperatorSetIdProto { domain 1, version 2 }
  m.message(8, (w) => w.string(1, '').int(2, p.opset));
  // StringStringEntryProto { key 1, value 2 }
  for (const [key, value] of Object.entries(p.metadata)) m.message(14, (w) => w.string(1, key).string(2, value));
  return m.finish();
}
