// nnU-Net's intensity augmentations (--augment_mode nnunet): each transform against a float64
// reference written here, labels untouched, seeded determinism and resumable draws.
import { Rng } from '../../src/data/rng.js';
import { applyAugment, copyFlipped, drawAugment, type SampleAugment } from '../../src/data/augment.js';
import { NNUNET_INTENSITY, type IntensityDraws } from '../../src/data/augment-intensity.js';
import type { Shape3 } from '../../src/data/nifti.js';
import { Loader, type Batch } from '../../src/data/loader.js';
import { loadDataset } from '../../src/data/dataset.js';
import { DATA_DIR, HAVE_DATA, itData } from './helpers.js';

const shape: Shape3 = [6, 7, 5];
const [D, H, W] = shape;
const n = D * H * W;
const idx = (x: number, y: number, z: number) => (x * H + y) * W + z;
const img = new Float32Array(n);
{
  const r = new Rng(3);
  for (let i = 0; i < n; i++) img[i] = 2 * r.float() - 0.5 + 0.05 * (i % W);
}
const lab = Int32Array.from({ length: n }, (_, i) => i % 3);

/** The augmented image with only the given intensity draws (no flips, no warp). */
function apply(intensity: IntensityDraws): Float32Array {
  const out = new Float32Array(n);
  applyAugment(img, shape, { flipX: false, flipY: false, intensity }, out, 0, false);
  return out;
}

function expectClose(got: Float32Array, want: number[], tol = 1e-5) {
  let worst = 0;
  for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
  expect(worst).toBeLessThan(tol);
}

const stats = (v: number[]) => {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return { m, sd: Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length), lo: Math.min(...v), hi: Math.max(...v) };
};

describe('nnU-Net intensity transforms against float64 references', () => {
  const x = Array.from(img);

  it('blur: the 3D Gaussian (one sigma per axis, truncated at 4 sigma, mirrored edges) summed directly', () => {
    const sig = [0.6, 0.8, 1.0];
    const mirror = (i: number, len: number) => {
      while (i < 0 || i >= len) i = i < 0 ? -i - 1 : 2 * len - i - 1;
      return i;
    };
    const r = sig.map((s) => Math.floor(4 * s + 0.5));
    const g = (t: number, s: number) => Math.exp(-(t * t) / (2 * s * s));
    const norm = [0, 1, 2].map((a) => { let s = 0; for (let t = -r[a]; t <= r[a]; t++) s += g(t, sig[a]); return s; });
    const want: number[] = [];
    for (let a = 0; a < D; a++) for (let b = 0; b < H; b++) for (let c = 0; c < W; c++) {
      let s = 0;
      for (let i = -r[0]; i <= r[0]; i++) for (let j = -r[1]; j <= r[1]; j++) for (let k = -r[2]; k <= r[2]; k++) {
        s += g(i, sig[0]) * g(j, sig[1]) * g(k, sig[2]) * x[idx(mirror(a + i, D), mirror(b + j, H), mirror(c + k, W))];
      }
      want.push(s / (norm[0] * norm[1] * norm[2]));
    }
    expectClose(apply({ blur: [0.6, 0.8, 1.0] }), want);
  });

  it('brightness multiplies; contrast scales about the mean and clips to the old range', () => {
    expectClose(apply({ brightness: 1.2 }), x.map((v) => v * 1.2));
    const s = stats(x);
    expectClose(apply({ contrast: 1.25 }), x.map((v) => Math.min(s.hi, Math.max(s.lo, (v - s.m) * 1.25 + s.m))));
    expectClose(apply({ contrast: 0.8 }), x.map((v) => (v - s.m) * 0.8 + s.m));
  });

  it('gamma keeps mean and sd; inverted gamma works on -x', () => {
    const ref = (v: number[], gm: number, inv: boolean) => {
      const u = inv ? v.map((t) => -t) : v;
      const s = stats(u);
      const rg = s.hi - s.lo + 1e-7;
      const p = u.map((t) => ((t - s.lo) / rg) ** gm * rg + s.lo);
      const s2 = stats(p);
      const o = p.map((t) => ((t - s2.m) / (s2.sd + 1e-8)) * s.sd + s.m);
      return inv ? o.map((t) => -t) : o;
    };
    const a = apply({ gamma: 1.4 });
    expectClose(a, ref(x, 1.4, false));
    const sa = stats(Array.from(a)), sx = stats(x);
    expect(sa.m).toBeCloseTo(sx.m, 5);
    expect(sa.sd).toBeCloseTo(sx.sd, 5);
    expectClose(apply({ gammaInverted: 0.75 }), ref(x, 0.75, true));
    expectClose(apply({ gammaInverted: 0.75, gamma: 1.3 }), ref(ref(x, 0.75, true), 1.3, false));
  });

  it('low resolution: nearest-exact down then trilinear (align_corners=False) up, as per-axis matrices', () => {
    const scale = 0.6;
    // Per axis: a (small x len) nearest matrix and a (len x small) linear matrix.
    const mats = shape.map((len) => {
      const m = Math.max(1, Math.round(len * scale));
      const down = Array.from({ length: m }, (_, i) => Array.from({ length: len }, (_, j) => (j === Math.min(len - 1, Math.floor(((i + 0.5) * len) / m)) ? 1 : 0)));
      const up = Array.from({ length: len }, (_, i) => {
        const row = new Array<number>(m).fill(0);
        const q = Math.max(0, ((i + 0.5) * m) / len - 0.5);
        const i0 = Math.min(Math.floor(q), m - 1);
        const i1 = Math.min(i0 + 1, m - 1);
        row[i0] += 1 - (q - i0);
        row[i1] += q - i0;
        return row;
      });
      // up * down: len x len
      return up.map((row) => Array.from({ length: len }, (_, j) => row.reduce((s, w, k) => s + w * down[k][j], 0)));
    });
    const want: number[] = [];
    for (let a = 0; a < D; a++) for (let b = 0; b < H; b++) for (let c = 0; c < W; c++) {
      let s = 0;
      for (let i = 0; i < D; i++) for (let j = 0; j < H; j++) for (let k = 0; k < W; k++) s += mats[0][a][i] * mats[1][b][j] * mats[2][c][k] * x[idx(i, j, k)];
      want.push(s);
    }
    expectClose(apply({ lowres: scale }), want);
  });

  it('noise: zero mean, the drawn sd, and the same bytes from the same seed', () => {
    const big: Shape3 = [20, 20, 20];
    const zero = new Float32Array(8000);
    const a = new Float32Array(8000), b = new Float32Array(8000);
    applyAugment(zero, big, { flipX: false, flipY: false, intensity: { noise: { sd: 0.3, seed: 11 } } }, a, 0, false);
    applyAugment(zero, big, { flipX: false, flipY: false, intensity: { noise: { sd: 0.3, seed: 11 } } }, b, 0, false);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    const s = stats(Array.from(a));
    expect(Math.abs(s.m)).toBeLessThan(0.02);
    expect(s.sd).toBeGreaterThan(0.28);
    expect(s.sd).toBeLessThan(0.32);
  });

  it('labels are untouched by every intensity transform', () => {
    const all: IntensityDraws = { noise: { sd: 0.2, seed: 1 }, blur: [1, 1, 1], brightness: 1.2, contrast: 0.8, lowres: 0.5, gammaInverted: 1.3, gamma: 0.8 };
    const aug: SampleAugment = { flipX: true, flipY: true, intensity: all };
    const got = new Int32Array(n), want = new Int32Array(n);
    applyAugment(lab, shape, aug, got, 0, true);
    copyFlipped(lab, shape, aug, want, 0);
    expect(Array.from(got)).toEqual(Array.from(want));
  });
});

describe('nnunet draws', () => {
  it('keep the flips and spatial draws of full and leave full without them', () => {
    for (let seed = 0; seed < 200; seed++) {
      const f = drawAugment(new Rng(seed), 'full');
      expect(f.intensity).toBeUndefined();
      const u = drawAugment(new Rng(seed), 'nnunet');
      expect([u.flipX, u.flipY, u.affine]).toEqual([f.flipX, f.flipY, f.affine]);
      expect(u.gain ?? u.offset ?? u.noise).toBeUndefined();
    }
  });

  it('apply each transform about as often as nnU-Net', () => {
    const r = new Rng(1);
    const seen: Record<string, number> = {};
    const N = 20000;
    for (let i = 0; i < N; i++) for (const k of Object.keys(drawAugment(r, 'nnunet').intensity ?? {})) seen[k] = (seen[k] ?? 0) + 1;
    const f = NNUNET_INTENSITY;
    const want: Record<string, number> = {
      noise: f.pNoise, blur: f.pBlur * f.pBlurChannel, brightness: f.pBrightness, contrast: f.pContrast,
      lowres: f.pLowres * f.pLowresChannel, gammaInverted: f.pGammaInverted, gamma: f.pGamma,
    };
    for (const [k, p] of Object.entries(want)) expect(Math.abs(seen[k] / N - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / N));
  });

  it('the same seed gives the same draws and bytes; a generator restored mid-stream continues them', () => {
    const a = new Rng(7), b = new Rng(7);
    const draws = (r: Rng, k: number) => Array.from({ length: k }, () => drawAugment(r, 'nnunet'));
    const da = draws(a, 50);
    expect(draws(b, 50)).toEqual(da);
    const saved = JSON.parse(JSON.stringify(a.state()));
    const next = draws(a, 50);
    expect(draws(new Rng(saved), 50)).toEqual(next);
    const bytes = (aug: SampleAugment) => {
      const o = new Float32Array(n);
      applyAugment(img, shape, aug, o, 0, false);
      return Buffer.from(o.buffer);
    };
    for (let i = 0; i < 50; i++) expect(bytes(next[i]).equals(bytes(draws(new Rng(saved), i + 1)[i]))).toBe(true);
  });
});

describe('nnunet mode through the loader', () => {
  const cases = HAVE_DATA ? loadDataset(DATA_DIR).training.slice(0, 6) : [];
  const collect = async (it: AsyncIterable<Batch>) => {
    const out: Batch[] = [];
    for await (const b of it) out.push(b);
    return out;
  };
  itData('a resumed loader gives byte-identical augmented batches', async () => {
    const a = new Loader({ cases, batchSize: 2, augment: true, augmentMode: 'nnunet', seed: 3, workers: 0 });
    await collect(a.epoch(0));
    const saved = JSON.parse(JSON.stringify(a.state()));
    const want = await collect(a.epoch(1));
    const b = new Loader({ cases, batchSize: 2, augment: true, augmentMode: 'nnunet', state: saved, workers: 0 });
    const got = await collect(b.epoch(1));
    expect(got.map((x, i) => Buffer.from(x.images.buffer).equals(Buffer.from(want[i].images.buffer)))).not.toContain(false);
    expect(got.map((x, i) => Buffer.from(x.labels!.buffer).equals(Buffer.from(want[i].labels!.buffer)))).not.toContain(false);
    await a.close();
    await b.close();
  });
});
