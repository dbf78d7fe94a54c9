// A small builder of ONNX graphs over the generated protobuf messages of `onnx-proto`
// (protobufjs): named initializers, nodes with typed attributes, and the model's encoding.
// The wire format is protobufjs's; nothing here writes bytes by hand.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const AT = onnx.AttributeProto.AttributeType;

export type Attr = number | number[] | { float: number };

/** Dimensions of a graph input or output: numbers, or a name for a dynamic size. */
export type Dims = (number | string)[];

export class GraphBuilder {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  readonly initializers: onnxProto.onnx.ITensorProto[] = [];
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
    this.initializers.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(le.buffer) });
    return name;
  }

  /** Adds a node; returns its (single) output's name. Integers become INT(S), {float} a FLOAT. */
  node(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, outName?: string): string {
    const output = outName ?? this.name(`${opType.toLowerCase()}`);
    if (outName) this.used.add(outName);
    const attribute = Object.entries(attrs).map(([name, v]) =>
      Array.isArray(v) ? { name, type: AT.INTS, ints: v }
        : typeof v === 'number' ? { name, type: AT.INT, i: v }
          : { name, type: AT.FLOAT, f: v.float });
    this.nodes.push({ opType, input: inputs, output: [output], name: this.name(`${opType}_${this.nodes.length}`), attribute });
    return output;
  }
}

function valueInfo(name: string, dims: Dims): onnxProto.onnx.IValueInfoProto {
  const dim = dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim } } } };
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
  const model = onnx.ModelProto.create({
    irVersion: irVersion(p.opset),
    opsetImport: [{ domain: '', version: p.opset }],
    producerName: 'vnet-native',
    producerVersion: p.producerVersion,
    docString: p.docString,
    graph: {
      name: p.graphName,
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(p.input.name, p.input.dims)],
      output: [valueInfo(p.output.name, p.output.dims)],
    },
    metadataProps: Object.entries(p.metadata).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Decodes ONNX bytes (for tests and tools that read an exported model back). */
export function decodeModel(bytes: Uint8Array): onnxProto.onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
