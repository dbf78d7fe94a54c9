// Loader throughput per core and its memory: samples/s of one thread (workers 0) building
// training batches, on the Hippocampus data (the reference's 32³ resize with flips; full
// resolution 40x56x40 patches with the full augmentation, from memory and from the on-disk
// cache) and on generated large volumes (from memory and from the cache), each row in a fresh
// process with its peak RSS; then the cores the 32³ pipeline needs to feed the reference's
// 8 x V100 rate (4,282 images/s). Run: `node dist/bench/data/patches.js [--data DIR] [--large N]`.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Loader, defaultDataDir, loadDataset, type Shape3 } from '../../src/data/index.js';
import { writeLarge } from './large-set.js';

const REFERENCE_RATE = 4282; // images/s, the reference's 8 x V100 training throughput (its README)

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

interface Row { name: string; data: string; patch: Shape3; full: boolean; augment: 'flips' | 'full'; cache: boolean; batch: number }
interface Result { rate: number; peakRssMb: number; warmSec: number }

/** One row in this process: warm up (read or cache every case), then samples/s over `seconds`. */
async function measure(r: Row, seconds: number): Promise<Result> {
  const spec = loadDataset(r.data);
  const cacheDir = r.cache ? fs.mkdtempSync(path.join(os.tmpdir(), 'vnet-bench-cache-')) : undefined;
  const l = new Loader({ cases: spec.training, batchSize: r.batch, inputShape: r.patch, augment: true, augmentMode: r.augment, seed: 0, workers: 0, ...(r.full ? { fullResolution: true } : {}), ...(cacheDir ? { cacheDir } : {}) });
  try {
    const t0 = performance.now();
    await l.preload();
    const warmSec = (performance.now() - t0) / 1000;
    let n = 0;
    const t = performance.now();
    for (let e = 0; performance.now() - t < seconds * 1000; e++) for await (const b of l.epoch(e)) { n += b.size; if (performance.now() - t > seconds * 1000) break; }
    return { rate: n / ((performance.now() - t) / 1000), peakRssMb: process.resourceUsage().maxRSS / 1024, warmSec };
  } finally {
    await l.close();
    if (cacheDir) fs.rmSync(cacheDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const only = arg('child', '');
  if (only) {
    console.log(JSON.stringify(await measure(JSON.parse(only) as Row, Number(arg('seconds', '5')))));
    return;
  }
  const hippo = arg('data', defaultDataDir());
  const nLarge = Number(arg('large', '6'));
  const largeShape: Shape3 = [256, 256, 160];
  const large = fs.mkdtempSync(path.join(os.tmpdir(), 'vnet-bench-large-'));
  writeLarge(large, nLarge, largeShape);
  const rows: Row[] = [
    { name: 'Task04, 32³ resize + flips (the reference)', data: hippo, patch: [32, 32, 32], full: false, augment: 'flips', cache: false, batch: 8 },
    { name: 'Task04, 40x56x40 patches + full augmentation, memory', data: hippo, patch: [40, 56, 40], full: true, augment: 'full', cache: false, batch: 2 },
    { name: 'Task04, 40x56x40 patches + full augmentation, disk cache', data: hippo, patch: [40, 56, 40], full: true, augment: 'full', cache: true, batch: 2 },
    { name: `${nLarge} x ${largeShape.join('x')}, 128³ patches + flips, memory`, data: large, patch: [128, 128, 128], full: true, augment: 'flips', cache: false, batch: 2 },
    { name: `${nLarge} x ${largeShape.join('x')}, 128³ patches + flips, disk cache`, data: large, patch: [128, 128, 128], full: true, augment: 'flips', cache: true, batch: 2 },
  ];
  const out: string[] = [];
  let refRate = 0;
  try {
    for (const r of rows) {
      const res = JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify(r), '--seconds', arg('seconds', '5')], { encoding: 'utf8' }).trim().split('\n').pop() as string) as Result;
      if (!refRate) refRate = res.rate;
      out.push(`${r.name.padEnd(62)} ${res.rate.toFixed(1).padStart(8)} samples/s per core   peak RSS ${res.peakRssMb.toFixed(0).padStart(5)} MB   (warm-up ${res.warmSec.toFixed(1)} s)`);
    }
  } finally {
    fs.rmSync(large, { recursive: true, force: true });
  }
  const dataMb = (nLarge * largeShape[0] * largeShape[1] * largeShape[2] * 5) / 2 ** 20;
  console.log(`loader, one thread per row (${os.availableParallelism()} CPUs, load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}, node ${process.version}); large set ${dataMb.toFixed(0)} MB of voxels`);
  for (const l of out) console.log(l);
  console.log(`cores to feed ${REFERENCE_RATE} images/s (the reference on 8 x V100) with the 32³ pipeline: ${Math.ceil(REFERENCE_RATE / refRate)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
