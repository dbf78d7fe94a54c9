// Where `export` may write: through the same guard as train and predict (data/outputs.ts). The
// model's own files are inputs, and an existing file is replaced only when it is an ONNX model
// that vnet-native wrote (its first bytes: ir_version, then producer_name "vnet-native").
import fs from 'node:fs';
import path from 'node:path';
import { checkOutputFile } from '../data/index.js';

/** Field 2 (producer_name, length-delimited) of an ONNX ModelProto holding "vnet-native". */
const PRODUCER = Buffer.concat([Buffer.from([0x12, 11]), Buffer.from('vnet-native')]);

/** An ONNX file that vnet-native wrote: field 1 (ir_version, a varint) then PRODUCER (16 bytes read). */
export function isOurOnnx(file: string): boolean {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const b = Buffer.alloc(16);
    const n = fs.readSync(fd, b, 0, b.length, 0);
    if (n < 3 + PRODUCER.length || b[0] !== 0x08) return false;
    let i = 1;
    while (i < 4 && b[i] & 0x80) i++;
    return b.subarray(i + 1, i + 1 + PRODUCER.length).equals(PRODUCER);
  } finally {
    fs.closeSync(fd);
  }
}

/** The model folder's files, two levels deep (config, checkpoints, split), but not earlier exports. */
function modelFiles(modelDir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    let entries: fs.Dirent[];
    try { entries = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory() && depth > 0) walk(p, depth - 1);
      else if (e.isFile() && !isOurOnnx(p)) out.push(p);
    }
  };
  walk(modelDir, 1);
  return out;
}

/** Refuses an --output that names an input, a link, a special file, or a file vnet-native did not write. */
export function checkExportOutput(file: string, modelDir: string): void {
  checkOutputFile(file, modelFiles(modelDir), '--output', isOurOnnx);
}
