// The loader in-thread (ts-jest runs TypeScript, so there is no compiled worker.js here; the
// worker path is tested from compiled JS in worker.test.ts): batching rules, shuffling, flips
// applied to image and label together, caching, resume.
import { Loader, type Batch } from '../../src/data/loader.js';
import { loadDataset } from '../../src/data/dataset.js';
import { flipVolume } from '../../src/data/augment.js';
import { prepareCase, type CaseRef } from '../../src/data/preprocess.js';
import { DATA_DIR, HAVE_DATA, itData } from './helpers.js';

const VOX = 32 * 32 * 32;
const cases: CaseRef[] = HAVE_DATA ? loadDataset(DATA_DIR).training.slice(0, 11) : [];
const tests: CaseRef[] = HAVE_DATA ? loadDataset(DATA_DIR).test.slice(0, 5) : [];

async function collect(it: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

function slot<T extends Float32Array | Int32Array>(a: T, i: number): T {
  return a.subarray(i * VOX, (i + 1) * VOX) as T;
}

const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => v === b[i]);

describe('Loader (in-thread)', () => {
  itData('falls back to in-thread under ts-jest and says why', async () => {
    const l = new Loader({ cases, batchSize: 4 });
    expect(l.workerCount).toBe(0);
    expect(l.inThreadReason).toMatch(/worker\.js/);
    await l.close();
  });

  itData('train: full shuffle, drops only the last partial batch, flips image and label together', async () => {
    const l = new Loader({ cases, batchSize: 4, augment: true, seed: 11, workers: 0 });
    expect(l.batchesPerEpoch).toBe(2);
    const e0 = await collect(l.epoch(0));
    const e1 = await collect(l.epoch(1));
    for (const e of [e0, e1]) {
      expect(e.map((b) => b.size)).toEqual([4, 4]);
      expect(new Set(e.flatMap((b) => b.ids)).size).toBe(8);
      expect(e[0].images).toHaveLength(4 * VOX);
      expect(e[0].labels).toHaveLength(4 * VOX);
    }
    expect(e0.flatMap((b) => b.ids)).not.toEqual(e1.flatMap((b) => b.ids));
    const flipsSeen = new Set<string>();
    for (const b of [...e0, ...e1]) {
      b.ids.forEach((id, i) => {
        const c = l.cached(id);
        expect(c).toBeDefined();
        const img = slot(b.images, i);
        const lab = slot(b.labels as Int32Array, i);
        const match = [false, true].flatMap((fx) => [false, true].map((fy) => ({ flipX: fx, flipY: fy })))
          .filter((f) => same(flipVolume(c!.image, [32, 32, 32], f), img));
        expect(match).toHaveLength(1);
        expect(same(flipVolume(c!.label!, [32, 32, 32], match[0]), lab)).toBe(true);
        flipsSeen.add(JSON.stringify(match[0]));
      });
    }
    expect(flipsSeen.size).toBeGreaterThan(1);
    await l.close();
  });

  itData('the same seed gives the same batches; another seed does not', async () => {
    const run = async (seed: number) => {
      const l = new Loader({ cases, batchSize: 3, augment: true, seed, workers: 0 });
      const b = [...(await collect(l.epoch(0))), ...(await collect(l.epoch(1)))];
      await l.close();
      return b;
    };
    const [a, b, c] = [await run(5), await run(5), await run(6)];
    expect(a.map((x) => x.ids)).toEqual(b.map((x) => x.ids));
    expect(a.every((x, i) => same(x.images, b[i].images) && same(x.labels!, b[i].labels!))).toBe(true);
    expect(a.map((x) => x.ids)).not.toEqual(c.map((x) => x.ids));
  });

  itData('resumes from a saved state exactly where the stream was', async () => {
    const a = new Loader({ cases, batchSize: 2, augment: true, seed: 9, workers: 0 });
    await collect(a.epoch(0));
    const saved = JSON.parse(JSON.stringify(a.state()));
    const want = await collect(a.epoch(1));
    const b = new Loader({ cases, batchSize: 2, augment: true, state: saved, workers: 0 });
    const got = await collect(b.epoch(1));
    expect(got.map((x) => x.ids)).toEqual(want.map((x) => x.ids));
    expect(got.every((x, i) => same(x.images, want[i].images))).toBe(true);
    expect(() => b.epoch(0)).toThrow(/in order/);
  });

  itData('asking for a later epoch first gives the same batches as iterating up to it', async () => {
    const a = new Loader({ cases, batchSize: 4, augment: true, seed: 2, workers: 0 });
    await collect(a.epoch(0));
    await collect(a.epoch(1));
    const want = await collect(a.epoch(2));
    const b = new Loader({ cases, batchSize: 4, augment: true, seed: 2, workers: 0 });
    const got = await collect(b.epoch(2));
    expect(got.map((x) => x.ids)).toEqual(want.map((x) => x.ids));
    expect(got.every((x, i) => same(x.images, want[i].images))).toBe(true);
    expect(b.state().nextEpoch).toBe(3);
  });

  itData('eval keeps order and the last partial batch, no flips; values are the preprocessed case', async () => {
    const l = new Loader({ cases, batchSize: 4, mode: 'eval', augment: true, workers: 0 });
    const e = await collect(l.epoch(0));
    expect(e.map((b) => b.size)).toEqual([4, 4, 3]);
    expect(e.flatMap((b) => b.ids)).toEqual(cases.map((c) => c.id));
    expect(e[2].images).toHaveLength(3 * VOX);
    const p = prepareCase(cases[10]);
    expect(same(slot(e[2].images, 2), p.image)).toBe(true);
    expect(same(slot(e[2].labels!, 2), p.label!)).toBe(true);
    expect(e[2].originalShapes[2]).toEqual(p.originalShape);
  });

  itData('predict works on unlabelled test images and keeps every case', async () => {
    const l = new Loader({ cases: tests, batchSize: 2, mode: 'predict', workers: 0 });
    l.preloadSync();
    expect(tests.every((c) => l.cached(c.id) !== undefined)).toBe(true);
    const e = await collect(l.epoch(0));
    expect(e.map((b) => b.size)).toEqual([2, 2, 1]);
    expect(e.every((b) => b.labels === undefined)).toBe(true);
  });

  itData('refuses unlabelled cases for training and a bad batch size', () => {
    expect(() => new Loader({ cases: tests, batchSize: 2 })).toThrow(/VNET_E_BAD_ARGUMENT/);
    expect(() => new Loader({ cases, batchSize: 0 })).toThrow(/VNET_E_BAD_ARGUMENT/);
  });

  itData('a missing file surfaces as VNET_E_MISSING_FILE from the iterator', async () => {
    const bad = [...cases.slice(0, 1), { id: 'ghost', image: '/nonexistent/ghost.nii.gz', label: '/nonexistent/ghost_l.nii.gz' }];
    const l = new Loader({ cases: bad, batchSize: 1, mode: 'eval', workers: 0 });
    await expect(collect(l.epoch(0))).rejects.toMatchObject({ code: 'VNET_E_MISSING_FILE' });
  });
});
