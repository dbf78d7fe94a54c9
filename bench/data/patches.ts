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
import { Loader, defaultDataDir, loadDataset, writeFileAtomicSync, type Shape3 } from '../../src/data/index.js';
import { buildNifti1 } from '../../src/data/synthetic.js';

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

/** `n` generated CT-like cases of `shape` (float32, uncompressed) with a labelled sphere each. */
function writeLarge(dir: string, n: number, shape: Shape3): void {
  const [nx, ny, nz] = shape;
  const training = [];
  for (let k = 0; k < n; k++) {
    const img = new Float32Array(nx * ny * nz), lab = new Uint8Array(nx * ny * nz);
    const c = [nx * (0.4 + 0.05 * k), ny / 2, nz / 2], r = Math.min(nx, ny, nz) / 6;
    let i = 0;
    for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++, i++) {
      const inside = (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 < r * r;
      lab[i] = inside ? 1 : 0;
      img[i] = (inside ? 60 : 40) + ((i * 2654435761) % 97) - 48;
    }
    writeFileAtomicSync(path.join(dir, 'imagesTr', `big_${k}.nii`), buildNifti1(shape, img));
    writeFileAtomicSync(path.join(dir, 'labelsTr', `big_${k}.nii`), buildNifti1(shape, lab));
    training.push({ image: `./imagesTr/big_${k}.nii`, label: `./labelsTr/big_${k}.nii` });
  }
  writeFileAtomicSync(path.join(dir, 'dataset.json'), JSON.stringify({ name: 'Large', modality: { 0: 'CT' }, labels: { 0: 'background', 1: 'sphere' }, training, test: [] }));
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
