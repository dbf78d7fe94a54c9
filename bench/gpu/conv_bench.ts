// GPU convolution microbenchmarks: the V-Net's conv shapes, forward / backward-data /
// backward-filter, TF32 (fp32 tensors) and fp16, cuDNN and (for 2x2x2 stride 2) cuBLAS. Reports
// TFLOP/s (2 per multiply-accumulate) and the fraction of the measured matrix rate (a 1x1x1
// conv with 256 channels, i.e. a large GEMM). One JSON line per row with --json.
import { native, type NativeTensor } from '../../bindings/native.js';

interface Shape {
  name: string;
  N: number; D: number; C: number; K: number; k: number; s: number;
}

const BATCH = Number(process.env.VNET_BENCH_BATCH ?? 8);
const SHAPES: Shape[] = [
  { name: 'in 1->16 3^3 @32', N: BATCH, D: 32, C: 1, K: 16, k: 3, s: 1 },
  { name: 'res 32 3^3 @16', N: BATCH, D: 16, C: 32, K: 32, k: 3, s: 1 },
  { name: 'res 64 3^3 @8', N: BATCH, D: 8, C: 64, K: 64, k: 3, s: 1 },
  { name: 'res 128 3^3 @8', N: BATCH, D: 8, C: 128, K: 128, k: 3, s: 1 },
  { name: 'down 16->32 2^3/2 @32', N: BATCH, D: 32, C: 16, K: 32, k: 2, s: 2 },
  { name: 'down 64->128 2^3/2 @8', N: BATCH, D: 8, C: 64, K: 128, k: 2, s: 2 },
  { name: 'out 16->3 3^3 @32', N: BATCH, D: 32, C: 16, K: 3, k: 3, s: 1 },
];

function rand(n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    a[i] = ((s >>> 8) / 16777216 - 0.5) * scale;
  }
  return a;
}

function upload(data: Float32Array, shape: number[], dtype: 'f32' | 'f16'): NativeTensor {
  const t = native.fromArray(data, shape, 'f32', 'cuda');
  if (dtype === 'f32') return t;
  const [h] = native.run('cast', [t.handle], { dtype: 'f16' });
  native.dispose(t.handle);
  return h;
}

/** Median-of-3 time per call in ms, each batch sized to run ~0.2 s. */
function timeOp(fn: () => NativeTensor[]): number {
  const run = (n: number) => {
    native.sync();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) for (const t of fn()) native.dispose(t.handle);
    native.sync();
    return (performance.now() - t0) / n;
  };
  run(2); // plans and algorithm search
  const est = run(3);
  const n = Math.max(3, Math.min(200, Math.round(200 / Math.max(est, 1e-3))));
  const ts = [run(n), run(n), run(n)].sort((a, b) => a - b);
  return ts[1];
}

interface Row {
  shape: string; pass: string; dtype: string; engine: string; ms: number; tflops: number; frac?: number; error?: string;
}

function benchShape(sh: Shape, dtype: 'f32' | 'f16', engine: 'cudnn' | 'gemm'): Row[] {
  const pad = sh.s === 1 ? (sh.k - 1) >> 1 : 0;
  const out = sh.s === 1 ? sh.D : sh.D / 2;
  const macs = sh.N * out ** 3 * sh.K * sh.k ** 3 * sh.C;
  const x = upload(rand(sh.N * sh.D ** 3 * sh.C, 2), [sh.N, sh.D, sh.D, sh.D, sh.C], dtype);
  const w = upload(rand(sh.k ** 3 * sh.C * sh.K, 0.1), [sh.k, sh.k, sh.k, sh.C, sh.K], dtype);
  const dy = upload(rand(sh.N * out ** 3 * sh.K, 2), [sh.N, out, out, out, sh.K], dtype);
  const base = { stride: [sh.s, sh.s, sh.s], pad: [pad, pad, pad], engine };
  const passes: [string, () => NativeTensor[]][] = [
    ['fprop', () => native.run('conv3d_fprop', [x.handle, w.handle], { ...base, pad_back: [pad, pad, pad] })],
    ['dgrad', () => native.run('conv3d_dgrad', [dy.handle, w.handle], { ...base, in_shape: [sh.D, sh.D, sh.D] })],
    ['wgrad', () => native.run('conv3d_wgrad', [x.handle, dy.handle], { ...base, ksize: [sh.k, sh.k, sh.k] })],
  ];
  const rows: Row[] = [];
  for (const [pass, fn] of passes) {
    try {
      const ms = timeOp(fn);
      rows.push({ shape: sh.name, pass, dtype: dtype === 'f32' ? 'tf32' : 'f16', engine, ms, tflops: (2 * macs) / (ms * 1e9) });
    } catch (e) {
      const err = e as Error & { code?: string };
      rows.push({ shape: sh.name, pass, dtype: dtype === 'f32' ? 'tf32' : 'f16', engine, ms: NaN, tflops: NaN, error: `${err.code}: ${err.message.slice(0, 160)}` });
    }
  }
  for (const t of [x, w, dy]) native.dispose(t.handle);
  return rows;
}

function main(): void {
  const json = process.argv.includes('--json');
  const info = native.info();
  if (!info.cudaAvailable) {
    console.log(`skipped: no CUDA device (${info.cudaUnavailableReason})`);
    return;
  }
  native.initCuda(0);
  // The measured matrix rate: 1x1x1 conv, 256 -> 256 channels over BATCH x 32^3 voxels.
  const peak: Record<string, number> = {};
  for (const dtype of ['f32', 'f16'] as const) {
    const r = benchShape({ name: 'peak 1^3 256', N: BATCH, D: 32, C: 256, K: 256, k: 1, s: 1 }, dtype, 'cudnn');
    peak[dtype === 'f32' ? 'tf32' : 'f16'] = Math.max(...r.map((x) => (Number.isFinite(x.tflops) ? x.tflops : 0)));
  }
  console.log(`measured matrix rate: tf32 ${peak.tf32.toFixed(1)} TFLOP/s, f16 ${peak.f16.toFixed(1)} TFLOP/s`);
  // Rows print as they finish, so a time limit still leaves every finished row on screen.
  console.log(`${('conv, batch ' + BATCH).padEnd(30)} pass  prec  engine       ms  TFLOP/s  of peak`);
  for (const sh of SHAPES)
    for (const dtype of ['f32', 'f16'] as const)
      for (const engine of sh.k === 2 && sh.s === 2 ? (['cudnn', 'gemm'] as const) : (['cudnn'] as const)) {
        for (const r of benchShape(sh, dtype, engine)) {
          r.frac = peak[r.dtype] ? r.tflops / peak[r.dtype] : undefined;
          if (json) console.log(JSON.stringify({ bench: 'conv', batch: BATCH, ...r }));
          else
            console.log(`${r.shape.padEnd(30)} ${r.pass} ${r.dtype.padEnd(5)} ${r.engine.padEnd(6)} ` +
              (r.error ? `ERROR ${r.error}` : `${r.ms.toFixed(3).padStart(8)} ${r.tflops.toFixed(2).padStart(8)} ${((r.frac ?? 0) * 100).toFixed(0).padStart(6)}%`));
        }
      }
}

main();
