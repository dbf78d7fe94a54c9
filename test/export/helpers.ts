// Helpers for the ONNX export tests: a model trained for a couple of steps on real cases, an
// onnxruntime session over exported bytes, and the parity figures between two outputs.
import path from 'node:path';
import ort from 'onnxruntime-node';
import { runMode, withDefaults, type RunOptions } from '../../src/runner/index.js';
import { tmpDir } from '../cli/helpers.js';

const quiet = { log() {}, info() {}, progress() {}, close() {} };

/**
 * Trains for 2 steps (4 cases, batch 2) and returns the model dir. The batch-norm momentum is
 * 0.5 so that the moving statistics move well away from their initial (0, 1).
 */
export async function trainTiny(data: string, name: string, o: Partial<RunOptions>): Promise<string> {
  const modelDir = path.join(tmpDir(`onnx-${name}`), 'model');
  await runMode('train', withDefaults({
    dataDir: data, modelDir, batchSize: 2, trainEpochs: 1, baseLr: 1e-2, bnMomentum: 0.5,
    inputShape: [16, 16, 16], downscaleBlocks: [1, 1], upscaleBlocks: [1], progress: false, report: false, ...o,
  }), { logger: quiet });
  return modelDir;
}

export async function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { intraOpNumThreads: 2, interOpNumThreads: 1 });
}

/** Runs the session on `x` (N volumes of `shape`, `channels` each) in the given layout; returns its one output. */
export async function runOrt(s: ort.InferenceSession, x: Float32Array, n: number, shape: readonly number[], layout: 'ndhwc' | 'ncdhw' = 'ndhwc', channels = 1): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const dims = layout === 'ndhwc' ? [n, ...shape, channels] : [n, channels, ...shape];
  const out = await s.run({ image: new ort.Tensor('float32', x, dims) });
  const t = out[s.outputNames[0]];
  return { data: t.data as Float32Array, dims: t.dims };
}

/** NCDHW -> NDHWC (for comparing an NCDHW output with the engine's). */
export function toNdhwc(y: Float32Array, n: number, C: number): Float32Array {
  const V = y.length / (n * C), out = new Float32Array(y.length);
  for (let b = 0; b < n; b++) for (let c = 0; c < C; c++) for (let v = 0; v < V; v++) out[(b * V + v) * C + c] = y[(b * C + c) * V + v];
  return out;
}

/** Max |a - b| and the share of voxels whose argmax over the C channels agrees (both NDHWC). */
export function parity(a: Float32Array, b: Float32Array, C: number): { maxAbs: number; argmax: number } {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let maxAbs = 0, same = 0;
  const vox = a.length / C;
  for (let v = 0; v < vox; v++) {
    let ia = 0, ib = 0;
    for (let c = 0; c < C; c++) {
      const i = v * C + c;
      maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
      if (a[i] > a[v * C + ia]) ia = c;
      if (b[i] > b[v * C + ib]) ib = c;
    }
    if (ia === ib) same++;
  }
  return { maxAbs, argmax: same / vox };
}

/** Seeded values in [-3, 3) (about the range of z-scored volumes). */
export function randomVolumes(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return (s / 2 ** 32) * 6 - 3;
  });
}
