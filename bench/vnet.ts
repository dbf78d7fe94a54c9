// End-to-end speed: `train --benchmark` and `predict --benchmark` of the real CLI (so peak
// resident memory is the whole process's), side by side with the PyTorch peer
// (../shared/peers/torch_vnet.py) on the same machine, alternating runs, medians reported.
//   node dist/bench/vnet.js [--batches 2,8] [--modes train,infer] [--reps 3] [--steps 30] [--json] [--no-peer]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultDataDir, repoRoot } from '../src/data/index.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const batches = opt('batches', '2,8').split(',').map(Number);
const modes = opt('modes', 'train,infer').split(',') as ('train' | 'infer')[];
const reps = Number(opt('reps', '3'));
const steps = Number(opt('steps', '30'));
const warmup = Number(opt('warmup', '5'));
const threads = opt('threads', '2');
const json = args.includes('--json');
const peer = !args.includes('--no-peer');
const root = repoRoot();
const cli = path.join(root, 'dist', 'src', 'cli', 'main.js');
const peerScript = path.resolve(root, '..', 'shared', 'peers', 'torch_vnet.py');
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)];

interface Run { imagesPerSec: number; p50Ms: number; peakMb: number }

function ours(mode: 'train' | 'infer', batch: number): Run {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vnet-bench-'));
  const log = path.join(dir, 'log.json');
  const r = spawnSync(process.execPath, [cli, mode === 'train' ? 'train' : 'predict', '--benchmark', '--data_dir', defaultDataDir(), '--model_dir', path.join(dir, 'm'),
    '--batch_size', String(batch), '--warmup_steps', String(warmup), '--benchmark_steps', String(steps), '--log_dir', log, '--threads', threads, '--progress', 'false'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vnet-native ${mode} benchmark failed: ${r.stderr}`);
  const rec = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l.slice(5))).find((x) => Array.isArray(x.step) && x.step.length === 0);
  fs.rmSync(dir, { recursive: true, force: true });
  const d = rec.data;
  return { imagesPerSec: batch / (d.latency_p50_ms / 1000), p50Ms: d.latency_p50_ms, peakMb: d.peak_rss_mb };
}

function torch(mode: 'train' | 'infer', batch: number): Run | string {
  if (!fs.existsSync(peerScript)) return `no ${peerScript}`;
  const r = spawnSync('/usr/bin/python3', [peerScript, mode, '--device', 'cpu', '--threads', threads, '--batches', String(batch), '--warmup', String(warmup), '--min-iters', String(steps), '--min-time', '5'],
    { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } });
  if (r.status !== 0) return `PyTorch peer failed (install Debian's python3-torch): ${r.stderr.trim().split('\n').pop()}`;
  const d = JSON.parse(r.stdout.trim().split('\n').pop()!);
  return { imagesPerSec: d.samples_per_s, p50Ms: d.p50_ms, peakMb: d.peak_mem_mb };
}

const rows: string[][] = [];
for (const mode of modes)
  for (const batch of batches) {
    const o: Run[] = [], p: Run[] = [];
    let peerNote = peer ? '' : 'peer skipped (--no-peer)';
    for (let i = 0; i < reps; i++) {
      o.push(ours(mode, batch));
      if (peer && !peerNote) {
        const t = torch(mode, batch);
        if (typeof t === 'string') peerNote = t;
        else p.push(t);
      }
    }
    const res = {
      mode, batch, ours_images_per_s: median(o.map((r) => r.imagesPerSec)), ours_p50_ms: median(o.map((r) => r.p50Ms)), ours_peak_rss_mb: Math.max(...o.map((r) => r.peakMb)),
      peer_images_per_s: p.length ? median(p.map((r) => r.imagesPerSec)) : undefined, peer_p50_ms: p.length ? median(p.map((r) => r.p50Ms)) : undefined,
      peer_peak_rss_mb: p.length ? Math.max(...p.map((r) => r.peakMb)) : undefined, reps,
    };
    const ratio = res.peer_images_per_s ? res.ours_images_per_s / res.peer_images_per_s : undefined;
    if (json) process.stdout.write(JSON.stringify({ ...res, ratio, peer_note: peerNote || undefined }) + '\n');
    rows.push([mode, String(batch), res.ours_images_per_s.toFixed(2), res.ours_p50_ms.toFixed(1), res.ours_peak_rss_mb.toFixed(0),
      res.peer_images_per_s?.toFixed(2) ?? '-', res.peer_p50_ms?.toFixed(1) ?? '-', res.peer_peak_rss_mb?.toFixed(0) ?? '-', ratio ? `${ratio.toFixed(2)}x` : peerNote]);
  }
if (!json) {
  const head = ['mode', 'batch', 'ours img/s', 'ours p50 ms', 'ours RSS MB', 'torch img/s', 'torch p50 ms', 'torch RSS MB', 'ours/torch'];
  const all = [head, ...rows];
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  process.stdout.write(`V-Net 32³, ${threads} threads, median of ${reps} runs (img/s = batch / median step time)\n`);
  for (const r of all) process.stdout.write(r.map((c, i) => c.padStart(w[i])).join('  ') + '\n');
}
