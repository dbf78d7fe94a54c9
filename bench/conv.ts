// Convolution benchmark: the 13 distinct V-Net layer shapes (spec §1.5), forward, backward-data
// and backward-filter, with GFLOP/s on the dense count (2·N·OD·OH·OW·K·taps·C), the fraction
// of this machine's FMA peak, and PyTorch CPU run side by side as a peer.
//   node dist/bench/conv.js [--batch 2,8] [--layers res,tconv] [--reps 5] [--json] [--no-peer]
// Directions are the layer's own: a transposed conv's fprop is our conv3d_dgrad, its dgrad our
// conv3d_fprop, its wgrad our conv3d_wgrad with its input and output swapped.
import Benchmark from 'benchmark';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { native, type Handle } from '../bindings/native.js';

interface Layer {
  name: string;
  kind: 'conv' | 'tconv';
  size: number; // the layer's input grid
  cin: number; // the layer's own input / output channels
  cout: number;
  k: number;
  stride: number;
  pad: number;
}

const conv3 = (name: string, size: number, cin: number, cout: number): Layer =>
  ({ name, kind: 'conv', size, cin, cout, k: 3, stride: 1, pad: 1 });
const pool = (name: string, size: number, cin: number, cout: number): Layer =>
  ({ name, kind: 'conv', size, cin, cout, k: 2, stride: 2, pad: 0 });
const tconv = (name: string, size: number, cin: number, cout: number): Layer =>
  ({ name, kind: 'tconv', size, cin, cout, k: 2, stride: 2, pad: 0 });

export const LAYERS: Layer[] = [
  conv3('in.conv', 32, 1, 16),
  pool('down1.pool', 32, 16, 32),
  conv3('down1.res', 16, 32, 32),
  pool('down2.pool', 16, 32, 64),
  conv3('down2.res', 8, 64, 64),
  pool('down3.pool', 8, 64, 128),
  conv3('down3.res', 4, 128, 128),
  tconv('up1.tconv', 4, 128, 64),
  conv3('up1.res', 8, 128, 128),
  tconv('up2.tconv', 8, 128, 32),
  conv3('up2.res', 16, 64, 64),
  tconv('out.tconv', 16, 64, 16),
  conv3('out.conv', 32, 16, 3),
];

type Dir = 'fprop' | 'dgrad' | 'wgrad';
const DIRS: Dir[] = ['fprop', 'dgrad', 'wgrad'];

interface Args { batches: number[]; layers: string[]; reps: number; json: boolean; peer: boolean }

function parseArgs(argv: string[]): Args {
  const a: Args = { batches: [2, 8], layers: [], reps: 5, json: false, peer: true };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${f} needs a value`);
      return v;
    };
    if (f === '--batch') a.batches = val().split(',').map(Number);
    else if (f === '--layers') a.layers = val().split(',').filter(Boolean);
    else if (f === '--reps') a.reps = Math.max(1, Number(val()));
    else if (f === '--json') a.json = true;
    else if (f === '--no-peer') a.peer = false;
    else throw new Error(`unknown flag ${f} (use --batch, --layers, --reps, --json, --no-peer)`);
  }
  if (a.batches.some((b) => !Number.isInteger(b) || b < 1)) throw new Error('--batch takes positive integers');
  return a;
}

// The underlying conv: x (N,S,S,S,C) * w (k,k,k,C,K) -> y (N,O,O,O,K). For a tconv the conv's
// input is the tconv's output.
function underlying(l: Layer, n: number) {
  const big = l.kind === 'conv' ? l.size : l.size * l.stride;
  const C = l.kind === 'conv' ? l.cin : l.cout, K = l.kind === 'conv' ? l.cout : l.cin;
  const O = Math.floor((big + 2 * l.pad - l.k) / l.stride) + 1;
  return { x: [n, big, big, big, C], w: [l.k, l.k, l.k, C, K], y: [n, O, O, O, K], macs: n * O ** 3 * K * l.k ** 3 * C };
}

function randTensor(shape: number[], seed: number) {
  const len = shape.reduce((p, q) => p * q);
  const a = new Float32Array(len);
  let s = seed;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return native.fromArray(a, shape, 'f32', 'cpu');
}

// Median milliseconds of one call, using benchmark.js for the sampling.
function timeOp(fn: () => void, reps: number): number {
  fn();
  const b = new Benchmark('op', fn, { minSamples: reps, maxTime: 0.5, initCount: 1, async: false });
  b.run();
  const s = [...b.stats.sample].sort((p, q) => p - q);
  const mid = s.length >> 1;
  return (s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2) * 1e3;
}

interface Row { layer: string; batch: number; direction: Dir; ms: number; gflops: number; peak_fraction: number; peer_ms?: number; ratio?: number; peer_layout?: string }

function benchOurs(l: Layer, n: number, reps: number, peak: number): Row[] {
  const u = underlying(l, n);
  const x = randTensor(u.x, 1), w = randTensor(u.w, 2), dy = randTensor(u.y, 3);
  const st = [l.stride, l.stride, l.stride], pd = [l.pad, l.pad, l.pad];
  const call = (op: string, a: Handle, b: Handle, attrs: Record<string, number[]>) => () => {
    const [o] = native.run(op, [a, b], attrs);
    native.dispose(o.handle);
  };
  const convF = call('conv3d_fprop', x.handle, w.handle, { stride: st, pad: pd, pad_back: pd });
  const convD = call('conv3d_dgrad', dy.handle, w.handle, { stride: st, pad: pd, in_shape: u.x.slice(1, 4) });
  const convW = call('conv3d_wgrad', x.handle, dy.handle, { stride: st, pad: pd, ksize: [l.k, l.k, l.k] });
  const ops: Record<Dir, () => void> =
    l.kind === 'conv' ? { fprop: convF, dgrad: convD, wgrad: convW } : { fprop: convD, dgrad: convF, wgrad: convW };
  const rows = DIRS.map((d) => {
    const ms = timeOp(ops[d], reps);
    const gflops = (2 * u.macs) / (ms * 1e6);
    return { layer: l.name, batch: n, direction: d, ms, gflops, peak_fraction: gflops / peak };
  });
  for (const t of [x, w, dy]) native.dispose(t.handle);
  return rows;
}

// Runs the PyTorch peer once for all cases; returns ms by "layer/batch/direction", or why not.
function runPeer(layers: Layer[], batches: number[], reps: number): { ms: Map<string, { ms: number; layout: string }>; note: string } {
  const here = dirname(fileURLToPath(import.meta.url));
  const script = [resolve(here, 'peers/torch_conv.py'), resolve(here, '../../bench/peers/torch_conv.py')].find(existsSync);
  const ms = new Map<string, { ms: number; layout: string }>();
  if (!script) return { ms, note: 'peer skipped: bench/peers/torch_conv.py not found' };
  const py = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const cases = batches.flatMap((b) => layers.map((l) => ({
    layer: l.name, batch: b, kind: l.kind, size: l.size, cin: l.cin, cout: l.cout, k: l.k, stride: l.stride, pad: l.pad,
  })));
  const r = spawnSync(py, [script, '--threads', '2', '--reps', String(reps)], {
    input: JSON.stringify(cases), encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' }, maxBuffer: 1 << 24,
  });
  if (r.error) return { ms, note: `peer skipped: could not run ${py} (${r.error.message})` };
  let note = '';
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const o = JSON.parse(line);
    if (o.skipped) return { ms, note: `peer skipped: ${o.skipped} (install python3-torch)` };
    if (o.torch) note = `peer: PyTorch ${o.torch} CPU, ${o.threads} threads, mkldnn ${o.mkldnn}`;
    else ms.set(`${o.layer}/${o.batch}/${o.direction}`, { ms: o.ms, layout: o.layout });
  }
  if (r.status !== 0) note += ` (peer exited ${r.status}: ${r.stderr.trim().split('\n').pop()})`;
  return { ms, note };
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const layers = args.layers.length ? LAYERS.filter((l) => args.layers.some((f) => l.name.includes(f))) : LAYERS;
  native.setNumThreads(2);
  const peak = native.cpuPeakGflops(2, 1.0);
  const info = native.info();
  const log = (s: string) => (args.json ? process.stderr : process.stdout).write(s + '\n');
  log(`conv bench: ${info.isa}, ${info.threads} threads, FMA peak ${peak.toFixed(1)} GFLOP/s (2 threads)`);
  const rows: Row[] = [];
  for (const b of args.batches) for (const l of layers) rows.push(...benchOurs(l, b, args.reps, peak));
  let note = 'peer skipped: --no-peer';
  if (args.peer) {
    const peer = runPeer(layers, args.batches, args.reps);
    note = peer.note;
    for (const r of rows) {
      const p = peer.ms.get(`${r.layer}/${r.batch}/${r.direction}`);
      if (p) Object.assign(r, { peer_ms: p.ms, ratio: p.ms / r.ms, peer_layout: p.layout });
    }
  }
  log(note);
  log('ratio = peer time / our time (above 1: we are faster)');
  const head = ['layer', 'batch', 'dir', 'ms', 'GFLOP/s', '%peak', 'peer ms', 'ratio'];
  const w = [11, 5, 5, 9, 8, 6, 9, 6];
  const fmt = (cols: string[]) => cols.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' ');
  log(fmt(head));
  for (const r of rows) {
    log(fmt([r.layer, String(r.batch), r.direction, r.ms.toFixed(3), r.gflops.toFixed(1), (100 * r.peak_fraction).toFixed(1),
      r.peer_ms === undefined ? '-' : r.peer_ms.toFixed(3), r.ratio === undefined ? '-' : r.ratio.toFixed(2)]));
    if (args.json) process.stdout.write(JSON.stringify({ ...r, peak_gflops: peak }) + '\n');
  }
}

main();
