// Data pipeline benchmark: time to read and preprocess every volume of the dataset (median of
// a few runs; target < 3 s for the 261 Task04 volumes), and the loader's batches/s at batch 8
// with flips (target >= 10): first epoch (reads files), cached epochs, and the first epoch
// behind a simulated 40 ms training step (shows whether workers overlap reading with compute).
// Each loader row runs in a fresh process so every configuration starts with a cold JIT, as a
// real training run does. Run: `node dist/bench/data/load.js [--runs 5] [--data DIR]`.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Loader, defaultDataDir, loadDataset, prepareCase } from '../../src/data/index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const dataDir = arg('data', defaultDataDir());
const runs = Number(arg('runs', '5'));

/** Busy-wait: stands in for the engine's training step on the main thread. */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/** One loader measurement (run in a child process): batches/s of each of `epochs` epochs. */
async function loaderRates(workers: number, epochs: number, stepMs: number): Promise<{ rates: number[]; workers: number }> {
  const l = new Loader({ cases: loadDataset(dataDir).training, batchSize: 8, augment: true, seed: 0, workers });
  const rates: number[] = [];
  for (let e = 0; e < epochs; e++) {
    const t = performance.now();
    let n = 0;
    for await (const b of l.epoch(e)) {
      if (stepMs > 0) spin(stepMs);
      n += b.size > 0 ? 1 : 0;
    }
    rates.push(n / ((performance.now() - t) / 1000));
  }
  const used = l.workerCount;
  await l.close();
  return { rates, workers: used };
}

function child(workers: number, epochs: number, stepMs: number): { rates: number[]; workers: number } {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--data', dataDir, '--child', `${workers},${epochs},${stepMs}`], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop() as string);
}

async function main(): Promise<void> {
  const only = arg('child', '');
  if (only) {
    const [w, e, s] = only.split(',').map(Number);
    console.log(JSON.stringify(await loaderRates(w, e, s)));
    return;
  }
  const spec = loadDataset(dataDir);
  const all = [...spec.training, ...spec.test];
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    for (const c of all) prepareCase(c);
    times.push(performance.now() - t);
  }
  const loadMs = median(times);
  const rows: [string, string, string][] = [
    ['read + preprocess all volumes, in-thread', `${all.length} volumes`, `${(loadMs / 1000).toFixed(2)} s (median of ${runs}: ${times.map((t) => (t / 1000).toFixed(2)).join(', ')})`],
  ];
  const wDefault = Math.min(4, Math.max(1, os.availableParallelism() - 1));
  const perEpoch = Math.floor(spec.training.length / 8);
  for (const w of [0, wDefault]) {
    const r = child(w, 6, 0);
    rows.push([`loader bs 8 + flips, ${r.workers} worker(s), first epoch`, `${perEpoch} batches`, `${r.rates[0].toFixed(1)} batches/s`]);
    rows.push([`loader bs 8 + flips, ${r.workers} worker(s), cached`, 'median of 5 epochs', `${median(r.rates.slice(1)).toFixed(1)} batches/s`]);
  }
  for (const w of [0, wDefault]) {
    const r = child(w, 1, 40);
    rows.push([`first epoch behind a 40 ms step, ${r.workers} worker(s)`, 'at most 25.0', `${r.rates[0].toFixed(1)} batches/s`]);
  }
  const a = Math.max(...rows.map((x) => x[0].length));
  const b = Math.max(...rows.map((x) => x[1].length));
  console.log(`data: ${dataDir} (${os.availableParallelism()} CPUs, load average ${os.loadavg()[0].toFixed(1)}, node ${process.version})`);
  for (const [x, y, z] of rows) console.log(`${x.padEnd(a)}  ${y.padEnd(b)}  ${z}`);
  console.log(JSON.stringify({ volumes: all.length, loadSeconds: +(loadMs / 1000).toFixed(3), targetSeconds: 3, ok: loadMs < 3000 }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
