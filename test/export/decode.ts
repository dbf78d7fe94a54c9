// Reads exported ONNX bytes back with protobufjs' generated ONNX messages (onnx-proto, a
// development dependency only): an independent reader of the project's own writer.
import onnxProto from 'onnx-proto';

export const decodeModel = (bytes: Uint8Array): onnxProto.onnx.ModelProto => onnxProto.onnx.ModelProto.decode(bytes);

/** protobufjs' own encoding of a decoded model (the same bytes when the writer matches it). */
export const reencode = (m: onnxProto.onnx.ModelProto): Uint8Array => onnxProto.onnx.ModelProto.encode(m).finish();
