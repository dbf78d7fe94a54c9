// Peak memory of full-resolution training on a generated large dataset, the cases held in
// memory against read per patch from the on-disk cache (--cache_dir): one whole epoch of
// `train --benchmark` each (every case read), in fresh processes, the CLI's own peak-RSS line.
// Run: `node dist/bench/data/train-memory.js [--cases 24] [--shape 256,256,256] [--patch 64]`.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Shape3 } from '../../src/data/index.js';
import { writeLarge } from './large-set.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const cases = Number(arg('cases', '24'));
const shape = arg('shape', '256,256,256').split(',').map(Number) as Shape3;
const patch = arg('patch', '64');
const batch = 2;

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vnet-bench-trainmem-'));
try {
  const data = path.join(root, 'data');
  const bytes = writeLarge(data, cases, shape);
  const steps = Math.floor(cases / batch);
  const rows: string[] = [];
  for (const cache of [false, true]) {
    const args = ['train', '--data_dir', data, '--model_dir', path.join(root, `m${cache ? 'c' : 'm'}`), '--batch_size', String(batch), '--resize', 'none', '--input_shape', patch, patch, patch,
      '--target_spacing', 'none', '--benchmark', '--warmup_steps', String(steps - 1), '--benchmark_steps', '1', ...(cache ? ['--cache_dir', path.join(root, 'cache')] : [])];
    const t = performance.now();
    const out = execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const rss = /peak resident memory\s+(\d+) MB/.exec(out)?.[1] ?? '?';
    rows.push(`${cache ? 'disk cache (--cache_dir)' : 'cases in memory        '}  peak RSS ${rss.padStart(6)} MB   (${((performance.now() - t) / 1000).toFixed(0)} s for ${steps} steps)`);
  }
  console.log(`train --benchmark, ${cases} cases of ${shape.join('x')} (${(bytes / 2 ** 30).toFixed(2)} GiB of voxels), ${patch}³ patches, batch ${batch}, one epoch (${os.availableParallelism()} CPUs, load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')})`);
  for (const r of rows) console.log(r);
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
