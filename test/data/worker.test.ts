// The worker-thread path runs only from compiled JS: compile src/data with tsc into a temp
// folder, then drive the loader in a child node process. Its batches must equal the in-thread
// ones bit for bit, errors must keep their codes, and the process must exit without close().
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Loader, type Batch } from '../../src/data/loader.js';
import { loadDataset } from '../../src/data/dataset.js';
import { repoRoot } from '../../src/data/paths.js';
import { DATA_DIR, HAVE_DATA, cleanupTmp, itIf, tmpDir } from './helpers.js';

const root = repoRoot();
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const canRun = HAVE_DATA && fs.existsSync(tsc);
const itW = itIf(canRun, HAVE_DATA ? `no TypeScript compiler at ${tsc}` : 'no dataset (set VNET_DATA_DIR)');

let outDir = '';
beforeAll(() => {
  if (!canRun) return;
  outDir = tmpDir('worker');
  const srcDir = path.join(root, 'src', 'data');
  // The data layer and the one module below it (src/env.ts).
  const files = [...fs.readdirSync(srcDir).filter((f) => f.endsWith('.ts')).map((f) => path.join(srcDir, f)), path.join(root, 'src', 'env.ts')];
  const r = spawnSync(process.execPath, [tsc, ...files, '--outDir', outDir, '--rootDir', path.join(root, 'src'), '--module', 'nodenext', '--moduleResolution', 'nodenext',
    '--target', 'es2022', '--strict', '--skipLibCheck', '--types', 'node', '--typeRoots', path.join(root, 'node_modules', '@types')], { encoding: 'utf8', cwd: root });
  if (r.status !== 0) throw new Error(`tsc failed: ${r.stdout}${r.stderr}`);
  fs.writeFileSync(path.join(outDir, 'package.json'), '{"type":"module"}\n');
  fs.writeFileSync(path.join(outDir, 'driver.mjs'), DRIVER);
}, 120000);
afterAll(cleanupTmp);

// Runs in the child: prints one JSON line describing every batch.
const DRIVER = `
import crypto from 'node:crypto';
import { Loader } from './data/loader.js';
const o = JSON.parse(process.env.DRIVER_OPTS);
const l = new Loader(o.loader);
const out = { workers: l.workerCount, batches: [] };
try {
  if (o.preload) { await l.preload(); out.cached = o.loader.cases.filter((c) => l.cached(c.id)).length; }
  for (let e = 0; e < o.epochs; e++) for await (const b of l.epoch(e)) out.batches.push(digest(b));
} catch (err) { out.error = { code: err.code, message: err.message }; }
if (o.close) await l.close();
console.log(JSON.stringify(out));
function digest(b) {
  const h = crypto.createHash('sha256');
  h.update(Buffer.from(b.images.buffer, b.images.byteOffset, b.images.byteLength));
  if (b.labels) h.update(Buffer.from(b.labels.buffer, b.labels.byteOffset, b.labels.byteLength));
  return { ids: b.ids, size: b.size, hash: h.digest('hex') };
}
`;

function digest(b: Batch) {
  const h = crypto.createHash('sha256');
  h.update(Buffer.from(b.images.buffer, b.images.byteOffset, b.images.byteLength));
  if (b.labels) h.update(Buffer.from(b.labels.buffer, b.labels.byteOffset, b.labels.byteLength));
  return { ids: b.ids, size: b.size, hash: h.digest('hex') };
}

function runChild(opts: unknown) {
  const r = spawnSync(process.execPath, [path.join(outDir, 'driver.mjs')], { env: { ...process.env, NODE_OPTIONS: '', DRIVER_OPTS: JSON.stringify(opts) }, encoding: 'utf8', timeout: 60000 });
  return { status: r.status, signal: r.signal, stderr: r.stderr, out: r.stdout.trim() ? JSON.parse(r.stdout.trim().split('\n').pop() as string) : undefined };
}

describe('Loader with worker threads (compiled JS in a child process)', () => {
  const cases = HAVE_DATA ? loadDataset(DATA_DIR).training.slice(0, 13) : [];

  itW('gives the same batches as the in-thread path, bit for bit', async () => {
    const loader = { cases, batchSize: 3, augment: true, seed: 21, workers: 2 };
    const child = runChild({ loader, epochs: 2, close: true });
    expect(child.status).toBe(0);
    expect(child.out.workers).toBe(2);
    const l = new Loader({ ...loader, workers: 0 });
    const want = [];
    for (let e = 0; e < 2; e++) for await (const b of l.epoch(e)) want.push(digest(b));
    expect(child.out.batches).toEqual(want);
    expect(want).toHaveLength(8);
  });

  itW('nnU-Net augmentation (--augment_mode nnunet): workers apply the drawn transforms bit for bit as in-thread', async () => {
    const loader = { cases: cases.slice(0, 8), batchSize: 4, augment: true, augmentMode: 'nnunet', seed: 5, workers: 2 };
    const child = runChild({ loader, epochs: 2, close: true });
    expect(child.status).toBe(0);
    const l = new Loader({ ...loader, augmentMode: 'nnunet', workers: 0 });
    const want = [];
    for (let e = 0; e < 2; e++) for await (const b of l.epoch(e)) want.push(digest(b));
    expect(child.out.batches).toEqual(want);
  });

  itW('preloads through the workers and exits without close() (no open handles)', () => {
    const child = runChild({ loader: { cases, batchSize: 4, mode: 'eval', workers: 2 }, epochs: 1, preload: true, close: false });
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    expect(child.out.cached).toBe(13);
    expect(child.out.batches.map((b: { size: number }) => b.size)).toEqual([4, 4, 4, 1]);
  });

  itW('keeps error codes across the thread boundary', () => {
    const bad = [...cases.slice(0, 2), { id: 'ghost', image: path.join(DATA_DIR, 'imagesTr', 'ghost.nii.gz'), label: path.join(DATA_DIR, 'labelsTr', 'ghost.nii.gz') }];
    const child = runChild({ loader: { cases: bad, batchSize: 1, mode: 'eval', workers: 1 }, epochs: 1, close: true });
    expect(child.status).toBe(0);
    expect(child.out.error.code).toBe('VNET_E_MISSING_FILE');
    expect(child.out.error.message).toContain('ghost.nii.gz');
  });
});
