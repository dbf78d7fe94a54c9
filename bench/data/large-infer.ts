// Large-volume inference: wall time and peak RSS of `predict -i` on one generated CT-like volume
// (512 x 512 x 400 int16 by default, gzipped, in a temporary folder), in fresh processes, the
// CLI's own peak-memory line (VmHWM: the whole process, worker threads and native memory
// included). With --baseline, the same command from another build (e.g. main's dist) runs
// alternately with this one. Run: `node dist/bench/data/large-infer.js [--shape 512,512,400]
// [--model hippocampus] [--overlap 0.5] [--runs 1] [--baseline /path/to/other/dist [--baseline_only]]
// [--threads 2] [--save_probabilities]`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import type { Shape3 } from '../../src/data/index.js';
import { buildNifti1 } from '../../src/data/synthetic.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shape = arg('shape', '512,512,400').split(',').map(Number) as Shape3;
const model = arg('model', 'hippocampus');
const runs = Number(arg('runs', '1'));
const threads = arg('threads', String(os.availableParallelism()));
const baseline = arg('baseline', '');
const overlap = arg('overlap', '');
const probabilities = process.argv.includes('--save_probabilities');
// Only the baseline (its numbers alone, e.g. while this build is still changing).
const baselineOnly = process.argv.includes('--baseline_only');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A CT-like volume in Hounsfield units: air around an elliptic body of soft tissue, a bone ring, fat and a few denser organs, noise. */
function ctVolume([nx, ny, nz]: Shape3): Int16Array {
  const out = new Int16Array(nx * ny * nz);
  let i = 0, seed = 12345;
  for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++, i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const noise = ((seed >>> 16) % 41) - 20;
    const u = (x - nx / 2) / (0.42 * nx), v = (y - ny / 2) / (0.32 * ny), r = Math.hypot(u, v);
    const organ = Math.hypot(u - 0.3, v + 0.1, (z - nz / 2) / (0.2 * nz)) < 0.35;
    out[i] = r > 1 ? -1000 + noise : r > 0.93 ? -100 + noise : Math.abs(r - 0.6) < 0.04 ? 900 + 5 * noise : organ ? 60 + noise : 40 + noise;
  }
  return out;
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vnet-bench-largeinfer-'));
try {
  const input = path.join(root, 'ct_0001.nii.gz');
  fs.writeFileSync(input, zlib.gzipSync(buildNifti1(shape, ctVolume(shape)), { level: 1 }));
  const builds = [...(baseline ? [{ name: 'baseline', cli: path.join(baseline, 'src/cli/main.js') }] : []), ...(baselineOnly ? [] : [{ name: 'this build', cli: path.join(here, 'src/cli/main.js') }])];
  const got = new Map<string, { s: number[]; mb: number[] }>(builds.map((b) => [b.name, { s: [], mb: [] }]));
  for (let r = 0; r < runs; r++) {
    for (const b of builds) {
      const out = path.join(root, `out-${r}-${b.name.replace(' ', '')}`);
      const args = [b.cli, 'predict', '-i', input, '-o', out, '--model', model, '--threads', threads, '--no-report', ...(overlap ? ['--overlap', overlap] : []), ...(probabilities ? ['--save_probabilities'] : [])];
      const t = performance.now();
      const res = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
      const s = (performance.now() - t) / 1000;
      if (res.status !== 0) throw new Error(`${b.name}: predict failed (${res.status}): ${res.stderr}`);
      // The progress lines, the peak among them, go to stderr.
      const mb = Number(/peak memory (\d+) MB/.exec(res.stderr)?.[1] ?? NaN);
      got.get(b.name)!.s.push(s);
      got.get(b.name)!.mb.push(mb);
      fs.rmSync(out, { recursive: true, force: true });
    }
  }
  const gb = (shape[0] * shape[1] * shape[2] * 2) / 2 ** 30;
  console.log(`predict -i, one ${shape.join('x')} int16 CT-like volume (${gb.toFixed(2)} GiB of voxels), --model ${model}, --threads ${threads}${overlap ? `, --overlap ${overlap}` : ''}${probabilities ? ', --save_probabilities' : ''}, median of ${runs} (${os.availableParallelism()} CPUs, load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')})`);
  for (const b of builds) {
    const g = got.get(b.name)!;
    console.log(`${b.name.padEnd(12)} wall ${median(g.s).toFixed(1).padStart(7)} s   peak RSS ${median(g.mb).toFixed(0).padStart(6)} MB`);
  }
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
