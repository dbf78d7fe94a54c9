// The on-disk cache of full-resolution cases: batches read per patch from the cache files are
// the very batches the in-memory loader makes (patch positions, foreground picks, padding,
// flips, every channel); files are reused while the data and preprocessing are unchanged and
// rebuilt when either changes; nothing of the volumes stays in the loader's memory; training
// through --cache_dir gives the same weights.
import fs from 'node:fs';
import path from 'node:path';
import { Loader, loadDataset, type Batch, type InputSpec } from '../../src/data/index.js';
import { runMode, withDefaults } from '../../src/runner/index.js';
import { readSafetensors } from '../../src/infer/safetensors.js';
import { cleanupTmp, tmpDir } from './helpers.js';
import { writeCt, writeTwoChannel } from './generated.js';

afterAll(cleanupTmp);

async function batches(dir: string, input: InputSpec, cacheDir?: string, epochs = 2): Promise<Batch[]> {
  const spec = loadDataset(dir);
  // A patch larger than the volume on x (padding) and smaller on y and z; all patches on the foreground or not.
  const loader = new Loader({
    cases: spec.training, batchSize: 2, mode: 'train', inputShape: [24, 16, 8], workers: 0, seed: 5, augment: true, augmentMode: 'full',
    fullResolution: true, foregroundOversample: 0.5, input, ...(cacheDir ? { cacheDir } : {}),
  });
  const out: Batch[] = [];
  try {
    for (let e = 0; e < epochs; e++) for await (const b of loader.epoch(e)) out.push(b);
    if (cacheDir) expect(spec.training.every((c) => loader.cached(c.id) === undefined)).toBe(true);
  } finally {
    await loader.close();
  }
  return out;
}

describe.each([
  ['two-channel MRI', (d: string) => writeTwoChannel(d, 'nnunet', { cases: 4, tests: 0 }), { channels: 2 }],
  ['CT at a target spacing', (d: string) => writeCt(d, { cases: 4, tests: 0, pixdim: [1, 1, 2] }), { channels: 1, intensity: [{ scheme: 'ct', clip: [10, 90], mean: 50, std: 25 }], targetSpacing: [1, 1, 1.5] }],
] as const)('%s', (_name, write, input) => {
  it('reads the same batches from the cache files as from memory, and reuses or rebuilds the files', async () => {
    const dir = tmpDir('cache-data');
    write(dir);
    const cache = path.join(tmpDir('cache'), 'c');
    const mem = await batches(dir, input as InputSpec);
    const disk = await batches(dir, input as InputSpec, cache);
    expect(disk.length).toBe(mem.length);
    disk.forEach((b, i) => {
      expect(b.ids).toEqual(mem[i].ids);
      expect(Buffer.from(b.images.buffer).equals(Buffer.from(mem[i].images.buffer))).toBe(true);
      expect(Array.from(b.labels!)).toEqual(Array.from(mem[i].labels!));
    });
    const files = fs.readdirSync(cache).sort();
    expect(files.length).toBe(4);
    const mtimes = () => files.map((f) => fs.statSync(path.join(cache, f)).mtimeMs);
    const first = mtimes();
    await batches(dir, input as InputSpec, cache, 1);
    expect(mtimes()).toEqual(first); // unchanged data and preprocessing: reused
    // A changed source file, and another preprocessing, are rebuilt.
    const src = loadDataset(dir).training[0];
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(src.label!, later, later);
    await batches(dir, input as InputSpec, cache, 1);
    const after = mtimes();
    expect(after.filter((t, i) => t !== first[i]).length).toBe(1);
    await batches(dir, { ...input, intensity: Array.from({ length: input.channels }, () => ({ scheme: 'none' })) } as InputSpec, cache, 1);
    expect(mtimes().every((t, i) => t !== after[i])).toBe(true);
  }, 60_000);
});

test('training through --cache_dir gives the weights training from memory gives', async () => {
  const dir = tmpDir('cache-train');
  writeTwoChannel(dir, 'nnunet', { cases: 4, tests: 0 });
  const quiet = { log() {}, info() {}, progress() {}, close() {} };
  const run = async (cacheDir?: string) => {
    const modelDir = path.join(tmpDir('cache-model'), 'm');
    await runMode('train', withDefaults({
      dataDir: dir, modelDir, batchSize: 2, trainEpochs: 2, inputShape: [16, 16, 16], downscaleBlocks: [1, 1], upscaleBlocks: [1], resize: 'none', augment: true, progress: false, report: false, cacheDir,
    }), { logger: quiet });
    // The tensors, not the file: its metadata records the training time, which differs run to run.
    const { tensors } = await readSafetensors(path.join(modelDir, 'final.safetensors'));
    return Buffer.concat([...tensors.entries()].sort(([x], [y]) => x.localeCompare(y)).map(([, t]) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)));
  };
  const a = await run();
  const b = await run(path.join(tmpDir('cache-dir'), 'c'));
  expect(a.length).toBeGreaterThan(1000);
  expect(a.equals(b)).toBe(true);
}, 120_000);
