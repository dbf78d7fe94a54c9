// The PyTorch peer of `vnet-native bench conv`: the same problems through torch (CPU or CUDA, as
// the benchmark's device), run once for all cases by peers/torch_conv.py. A missing Python or
// torch is a note, not an error. The script ships in the package (src/bench/peers/).
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchOptions } from './conv.js';
import { geometry, type ConvProblem } from './problem.js';

export interface PeerResult {
  ms: Map<string, { ms: number; layout: string }>;
  note: string;
}

/** The key a benchmark row and a peer result share. */
export const peerKey = (layer: string, batch: number, dtype: string, math: string, direction: string) => `${layer}@${batch}/${dtype}/${math}/${direction}`;

export function peerScript(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  // src/bench/ (ts-jest) or dist/src/bench/ (compiled; the script stays under src/bench/peers).
  return [resolve(here, 'peers', 'torch_conv.py'), resolve(here, '..', '..', '..', 'src', 'bench', 'peers', 'torch_conv.py')].find(existsSync);
}

export function runTorchPeer(o: BenchOptions, threads: number): PeerResult {
  const ms = new Map<string, { ms: number; layout: string }>();
  const script = peerScript();
  if (!script) return { ms, note: 'peer torch skipped: src/bench/peers/torch_conv.py is missing from this install' };
  const cases: object[] = [];
  const ids = new Map<string, { layer: string; batch: number; dtype: string; math: string }>();
  for (const p0 of o.problems)
    for (const n of o.batches ?? [p0.input[0]])
      for (const dtype of o.dtypes)
        for (const math of dtype === 'f16' ? ['fp16'] : o.maths) {
          const p: ConvProblem = { ...p0, input: [n, p0.input[1], p0.input[2], p0.input[3], p0.input[4]] };
          const g = geometry(p, n);
          const id = String(cases.length);
          ids.set(id, { layer: p.name, batch: n, dtype, math });
          cases.push({
            id, transposed: p.transposed, input: p.input, filters: p.filters, kernel: p.kernel, stride: p.stride,
            pad_front: g.padFront, pad_back: g.padBack, out: g.xSpatial, directions: o.directions, dtype, math, device: o.device,
          });
        }
  const args = [script, '--threads', String(threads), '--warmup', String(o.warmup), '--reps', String(o.minReps), '--min_time', String(o.minTime), '--max_reps', String(o.maxReps)];
  // $VNET_PYTHON alone when set; else python3 on the PATH, then the system's (a virtualenv or
  // pyenv python3 often lacks the distribution's torch).
  const pythons = process.env.VNET_PYTHON ? [process.env.VNET_PYTHON] : ['python3', '/usr/bin/python3'];
  let why = '';
  for (const py of pythons) {
    const r = spawnSync(py, args, { input: JSON.stringify(cases), encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.error) {
      why ||= `could not run ${py} (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}); set VNET_PYTHON to a Python with torch`;
      continue;
    }
    const first = r.stdout.split('\n').find(Boolean);
    let skip: string | undefined = `${py} printed no results (${r.stderr.trim().split('\n').pop() ?? ''})`;
    try {
      if (first) skip = (JSON.parse(first) as { skipped?: string }).skipped;
    } catch {
      /* keep the message above */
    }
    if (skip) {
      why ||= `${skip} (${py}; pip install torch, or apt-get install python3-torch)`;
      continue;
    }
    return parsePeer(r, ms, ids, o.device);
  }
  return { ms, note: `peer torch skipped: ${why}` };
}

function parsePeer(r: SpawnSyncReturns<string>, ms: PeerResult['ms'], ids: Map<string, { layer: string; batch: number; dtype: string; math: string }>, device: string): PeerResult {
  let note = '';
  const skipped: string[] = [];
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    let o2: Record<string, unknown>;
    try {
      o2 = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (o2.torch) note = `peer: PyTorch ${String(o2.torch)} on ${device}, ${String(o2.threads)} threads${device === 'cuda' ? `, cuDNN ${String(o2.cudnn)}` : `, mkldnn ${String(o2.mkldnn)}`}`;
    else if (o2.skipped) skipped.push(`${ids.get(String(o2.id))?.layer}: ${String(o2.skipped)}`);
    else {
      const c = ids.get(String(o2.id));
      if (c) ms.set(peerKey(c.layer, c.batch, c.dtype, c.math, String(o2.direction)), { ms: Number(o2.ms), layout: String(o2.layout) });
    }
  }
  if (skipped.length) note += `; peer skipped ${skipped.join('; ')}`;
  if (r.status !== 0) note += ` (peer exited ${r.status}: ${r.stderr.trim().split('\n').pop() ?? ''})`;
  return { ms, note };
}
