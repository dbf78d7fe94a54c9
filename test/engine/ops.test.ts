// Every op on every available device against a float64 reference (test/ops/reference.ts) on
// fresh random inputs (the seed is in the test name, VNET_TEST_SEED reproduces a run). The last
// test asserts that these checks ran every native op on the CPU.
import { native } from '../../bindings/native.js';
import * as E from '../../src/engine/index.js';
import { runOp, type Tensor } from '../../src/engine/index.js';
import {
  batchNormTrainRef, conv3dDgradRef, conv3dRef, conv3dWgradRef, diceLossRef, makeRng, maxErr, numGrad, randArray, softmaxRef, type Geom,
} from '../ops/reference.js';
import { traceOps } from '../ops/table.js';
import { testDevices, testSeed } from './devices.js';

const devices = testDevices();
const rng = makeRng(testSeed);
// fp32 accumulation over up to a few thousand terms against float64.
const TOL = { f32: { rtol: 2e-4, atol: 2e-5 } };

const t = (a: Float32Array | Int32Array, shape: number[], device: E.DeviceName) => E.tensor(a, shape, { device });
const arr = (x: Tensor) => Array.from(x.toArray());

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = TOL.f32) {
  expect(got.length).toBe(want.length);
  const e = maxErr(got, want, tol.rtol, tol.atol);
  if (e > 1) {
    let worst = 0;
    for (let i = 0; i < got.length; i++) if (Math.abs(got[i] - want[i]) > Math.abs(got[worst] - want[worst])) worst = i;
    throw new Error(`mismatch ${e.toFixed(2)}x tolerance at ${worst}: got ${got[worst]}, want ${want[worst]}`);
  }
}

interface ConvCase { name: string; N: number; sp: [number, number, number]; C: number; K: number; k: [number, number, number]; s: [number, number, number] }
const convCases: ConvCase[] = [
  { name: '3^3 same', N: 2, sp: [5, 4, 6], C: 3, K: 5, k: [3, 3, 3], s: [1, 1, 1] },
  { name: '3^3 same, 16 ch', N: 1, sp: [4, 4, 4], C: 16, K: 16, k: [3, 3, 3], s: [1, 1, 1] },
  { name: '2^3 stride 2', N: 2, sp: [4, 6, 4], C: 4, K: 6, k: [2, 2, 2], s: [2, 2, 2] },
  { name: '5^3 same', N: 1, sp: [6, 5, 4], C: 2, K: 3, k: [5, 5, 5], s: [1, 1, 1] },
  { name: '3^3 stride 2 odd', N: 1, sp: [5, 7, 3], C: 3, K: 4, k: [3, 3, 3], s: [2, 2, 2] },
  { name: '1->16 input', N: 1, sp: [6, 6, 6], C: 1, K: 16, k: [3, 3, 3], s: [1, 1, 1] },
  { name: '16->3 output', N: 1, sp: [4, 5, 6], C: 16, K: 3, k: [3, 3, 3], s: [1, 1, 1] },
];

function geomOf(c: ConvCase): Geom & { pad: [number, number, number]; padBack: [number, number, number] } {
  const { pad, padBack } = E.convPads(c.sp, c.k, c.s, 'same');
  const O = c.sp.map((d, i) => Math.ceil(d / c.s[i])) as [number, number, number];
  return { N: c.N, D: c.sp[0], H: c.sp[1], W: c.sp[2], C: c.C, K: c.K, k: c.k, s: c.s, p: pad, O, pad, padBack };
}

// The native ops the checks ran on the CPU (traced around each test there).
const ran = new Set<string>();

describe.each(devices)(`ops on %s (seed ${testSeed})`, (dev) => {
  let untrace = () => {};
  beforeEach(() => { if (dev === 'cpu') untrace = traceOps(native, ran); });
  afterEach(() => { untrace(); native.sync(); });

  describe.each(convCases)('conv3d $name', (c) => {
    const g = geomOf(c);
    const xs = [c.N, ...c.sp, c.C], ws = [...c.k, c.C, c.K], ys = [c.N, ...g.O, c.K];
    const n = (s: number[]) => s.reduce((a, b) => a * b, 1);
    test('fprop', () => E.tidy(() => {
      const x = randArray(n(xs), rng), w = randArray(n(ws), rng);
      const [y] = runOp('conv3d_fprop', [t(x, xs, dev), t(w, ws, dev)], { stride: c.s, pad: g.pad, pad_back: g.padBack });
      expect(y.shape).toEqual(ys);
      expectClose(arr(y), conv3dRef(x, w, g));
    }));
    test('dgrad', () => E.tidy(() => {
      const dy = randArray(n(ys), rng), w = randArray(n(ws), rng);
      const [dx] = runOp('conv3d_dgrad', [t(dy, ys, dev), t(w, ws, dev)], { stride: c.s, pad: g.pad, in_shape: c.sp });
      expect(dx.shape).toEqual(xs);
      expectClose(arr(dx), conv3dDgradRef(dy, w, g));
    }));
    test('wgrad', () => E.tidy(() => {
      const x = randArray(n(xs), rng), dy = randArray(n(ys), rng);
      const [dw] = runOp('conv3d_wgrad', [t(x, xs, dev), t(dy, ys, dev)], { stride: c.s, pad: g.pad, ksize: c.k });
      expect(dw.shape).toEqual(ws);
      expectClose(arr(dw), conv3dWgradRef(x, dy, g));
    }));
  });

  test('bias_add and sum_over_rows', () => E.tidy(() => {
    const x = randArray(3 * 4 * 5, rng), b = randArray(5, rng);
    const [y] = runOp('bias_add', [t(x, [3, 4, 5], dev), t(b, [5], dev)]);
    expectClose(arr(y), Array.from(x, (v, i) => v + b[i % 5]));
    const [s] = runOp('sum_over_rows', [t(x, [3, 4, 5], dev)]);
    expectClose(arr(s), [0, 1, 2, 3, 4].map((k) => x.filter((_, i) => i % 5 === k).reduce((a, v) => a + v, 0)));
  }));

  test('relu and relu_bwd', () => E.tidy(() => {
    const x = randArray(1000, rng), dy = randArray(1000, rng);
    const [y] = runOp('relu', [t(x, [1000], dev)]);
    expectClose(arr(y), Array.from(x, (v) => Math.max(v, 0)));
    const [dx] = runOp('relu_bwd', [t(dy, [1000], dev), y]);
    expectClose(arr(dx), Array.from(dy, (v, i) => (x[i] > 0 ? v : 0)));
    // A non-finite gradient where the unit was off stays blocked (a select, not dy * mask).
    const [dz] = runOp('relu_bwd', [t(Float32Array.from([Infinity, NaN, -Infinity, 1.5]), [4], dev), t(Float32Array.from([0, -1, 0, 2]), [4], dev)]);
    expect(arr(dz)).toEqual([0, 0, 0, 1.5]);
  }));

  test('bias_bn_relu_bwd blocks non-finite gradients where the unit was off, as relu_bwd + batchnorm_bwd', () => E.tidy(() => {
    // One channel, four voxels: the unit is off at the first three.
    const dy = t(Float32Array.from([Infinity, NaN, -Infinity, 1.5]), [4, 1], dev), out = t(Float32Array.from([0, -1, 0, 2]), [4, 1], dev);
    const x = t(Float32Array.from([-1, -2, -0.5, 3]), [4, 1], dev), zero = t(new Float32Array(1), [1], dev);
    const gamma = t(Float32Array.from([1.5]), [1], dev), mean = t(Float32Array.from([-0.125]), [1], dev), invstd = t(Float32Array.from([0.5]), [1], dev);
    const [dx, , dgamma, dbeta] = runOp('bias_bn_relu_bwd', [dy, out, x, zero, gamma, mean, invstd]);
    const [dm] = runOp('relu_bwd', [dy, out]);
    const [dx2, dgamma2, dbeta2] = runOp('batchnorm_bwd', [dm, x, gamma, mean, invstd]);
    expect(arr(dx).every(Number.isFinite)).toBe(true);
    expectClose(arr(dx), arr(dx2));
    expectClose([...arr(dgamma), ...arr(dbeta)], [...arr(dgamma2), ...arr(dbeta2)]);
  }));

  test('add: equal shapes and the 1->C channel broadcast; sum_over_channels', () => E.tidy(() => {
    const a = randArray(2 * 3 * 4, rng), b = randArray(2 * 3 * 4, rng), b1 = randArray(2 * 3, rng);
    expectClose(arr(runOp('add', [t(a, [2, 3, 4], dev), t(b, [2, 3, 4], dev)])[0]), Array.from(a, (v, i) => v + b[i]));
    expectClose(arr(runOp('add', [t(a, [2, 3, 4], dev), t(b1, [2, 3, 1], dev)])[0]), Array.from(a, (v, i) => v + b1[Math.floor(i / 4)]));
    expectClose(arr(runOp('sum_over_channels', [t(a, [2, 3, 4], dev)])[0]), [0, 1, 2, 3, 4, 5].map((r) => a[4 * r] + a[4 * r + 1] + a[4 * r + 2] + a[4 * r + 3]));
  }));

  test('concat and split along channels', () => E.tidy(() => {
    const a = randArray(6 * 2, rng), b = randArray(6 * 3, rng);
    const [y] = runOp('concat', [t(a, [2, 3, 2], dev), t(b, [2, 3, 3], dev)]);
    const want: number[] = [];
    for (let r = 0; r < 6; r++) want.push(a[2 * r], a[2 * r + 1], b[3 * r], b[3 * r + 1], b[3 * r + 2]);
    expectClose(arr(y), want);
    const [p, q] = runOp('split', [y], { first: 2 });
    expectClose(arr(p), a);
    expectClose(arr(q), b);
  }));

  test('softmax and argmax', () => E.tidy(() => {
    const x = randArray(50 * 3, rng, -5, 5);
    const p = softmaxRef(x, 3);
    expectClose(arr(runOp('softmax', [t(x, [50, 3], dev)])[0]), p);
    const am = arr(runOp('argmax', [t(x, [50, 3], dev)])[0]);
    expect(am).toEqual([...Array(50).keys()].map((r) => [0, 1, 2].reduce((best, c) => (x[r * 3 + c] > x[r * 3 + best] ? c : best), 0)));
  }));

  test.each([0, 0.5])('dice_loss (ce weight %p)', (ce) => E.tidy(() => {
    const N = 2, V = 4 * 3 * 5, C = 3;
    const x = randArray(N * V * C, rng, -3, 3), lab = Int32Array.from({ length: N * V }, () => Math.floor(rng() * C));
    const [loss, probs, stats] = runOp('dice_loss', [t(x, [N, 4, 3, 5, C], dev), t(lab, [N, 4, 3, 5], dev)], { eps: 1e-6, ce_weight: ce });
    expectClose(arr(loss), [diceLossRef(x, lab, N, C, 1e-6, ce)]);
    expectClose(arr(probs), softmaxRef(x, C));
    expect(stats.shape).toEqual([N, C, 2]);
  }));

  test('batchnorm train (with running update), infer', () => E.tidy(() => {
    const C = 4, x = randArray(3 * 5 * C, rng, -2, 3), gamma = randArray(C, rng, 0.5, 1.5), beta = randArray(C, rng);
    const rm = randArray(C, rng), rv = randArray(C, rng, 0.5, 2);
    const rmT = t(rm, [C], dev), rvT = t(rv, [C], dev);
    const [y, mean, invstd] = runOp('batchnorm_train', [t(x, [15, C], dev), t(gamma, [C], dev), t(beta, [C], dev), rmT, rvT], { eps: 1e-3, momentum: 0.99 });
    const ref = batchNormTrainRef(x, C, gamma, beta, 1e-3);
    expectClose(arr(y), ref.y);
    expectClose(arr(mean), ref.mean);
    expectClose(arr(invstd), Array.from(ref.v, (v) => 1 / Math.sqrt(v + 1e-3)));
    expectClose(arr(rmT), Array.from(rm, (m, c) => 0.99 * m + 0.01 * ref.mean[c]));
    expectClose(arr(rvT), Array.from(rv, (v, c) => 0.99 * v + 0.01 * ref.v[c]));
    const [yi] = runOp('batchnorm_infer', [t(x, [15, C], dev), t(gamma, [C], dev), t(beta, [C], dev), t(rm, [C], dev), t(rv, [C], dev)], { eps: 1e-3 });
    expectClose(arr(yi), Array.from(x, (v, i) => ((v - rm[i % C]) / Math.sqrt(rv[i % C] + 1e-3)) * gamma[i % C] + beta[i % C]));
  }));

  test('batchnorm statistics over many rows (blocked sums) with a large offset stay float64-close', () => E.tidy(() => {
    // 200,003 rows: many 64-row blocks per thread and a ragged last one; values 1000 + U(-1, 1).
    const C = 3, R = 200_003, x = randArray(R * C, rng, 999, 1001);
    const gamma = Float32Array.from([1, 1, 1]), beta = new Float32Array(C), rm = new Float32Array(C), rv = Float32Array.from([1, 1, 1]);
    const [, mean, invstd] = runOp('batchnorm_train', [t(x, [R, C], dev), t(gamma, [C], dev), t(beta, [C], dev), t(rm, [C], dev), t(rv, [C], dev)], { eps: 1e-3, momentum: 0.99 });
    const ref = batchNormTrainRef(x, C, gamma, beta, 1e-3);
    expectClose(arr(mean), ref.mean, { rtol: 1e-6, atol: 0 });
    expectClose(arr(invstd), Array.from(ref.v, (v) => 1 / Math.sqrt(v + 1e-3)), { rtol: 1e-5, atol: 0 });
  }));

  test('fused unit statistics over many rows with a drifting offset stay float64-close', () => E.tidy(() => {
    // 50,001 rows of 16 channels (one AVX-512 vector), the mean drifting from 500 to 1500 over
    // the rows: every 64-row block has its own mean, so merging the blocks (and the threads'
    // parts) must carry the between-block spread into the variance.
    const C = 16, R = 50_001, x = new Float32Array(R * C);
    for (let r = 0; r < R; r++) for (let k = 0; k < C; k++) x[r * C + k] = 500 + (1000 * r) / R + (k + 1) * (rng() * 2 - 1);
    const b = randArray(C, rng), gamma = new Float32Array(C).fill(1), beta = new Float32Array(C);
    const [, mean, invstd] = runOp('bias_bn_relu_train', [t(x, [R, C], dev), t(b, [C], dev), t(gamma, [C], dev), t(beta, [C], dev), E.zeros([C], { device: dev }), E.fill([C], 1, dev)], { eps: 1e-3, momentum: 0.99 });
    const ref = batchNormTrainRef(x, C, gamma, beta, 1e-3);
    expectClose(arr(mean), Array.from(ref.mean, (m, k) => m + b[k]), { rtol: 1e-6, atol: 0 });
    expectClose(arr(invstd), Array.from(ref.v, (v) => 1 / Math.sqrt(v + 1e-3)), { rtol: 1e-5, atol: 0 });
  }));

  // Backward and fused kernels: against central differences (float64) of their forward
  // references. Inputs stay clear of ReLU's kink by far more than the FD step.
  const C = 4, R = 15;
  const bnIn = () => ({
    x: randArray(R * C, rng, -2, 3), b: randArray(C, rng), gamma: randArray(C, rng, 0.5, 1.5), beta: randArray(C, rng),
    dy: randArray(R * C, rng), rm: randArray(C, rng), rv: randArray(C, rng, 0.5, 2),
  });
  const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; };
  const biasBnRelu = (x: ArrayLike<number>, b: ArrayLike<number>, g: ArrayLike<number>, be: ArrayLike<number>) =>
    batchNormTrainRef(Array.from(x, (v, i) => v + b[i % C]), C, g, be, 1e-3).y.map((v) => Math.max(v, 0));

  test('batchnorm_bwd', () => E.tidy(() => {
    const { x, gamma, beta, dy } = bnIn();
    const [, mean, invstd] = runOp('batchnorm_train', [t(x, [R, C], dev), t(gamma, [C], dev), t(beta, [C], dev), E.zeros([C], { device: dev }), E.fill([C], 1, dev)], { eps: 1e-3, momentum: 0.9 });
    const [dx, dg, db] = runOp('batchnorm_bwd', [t(dy, [R, C], dev), t(x, [R, C], dev), t(gamma, [C], dev), mean, invstd]);
    const L = (xx: ArrayLike<number>, gg: ArrayLike<number>, bb: ArrayLike<number>) => dot(dy, batchNormTrainRef(xx, C, gg, bb, 1e-3).y);
    expectClose(arr(dx), numGrad((v) => L(v, gamma, beta), x));
    expectClose(arr(dg), numGrad((v) => L(x, v, beta), gamma));
    expectClose(arr(db), numGrad((v) => L(x, gamma, v), beta));
  }));

  test('bias_bn_relu train (with running update), infer and bwd', () => E.tidy(() => {
    const { x, b, gamma, beta, dy, rm, rv } = bnIn();
    const rmT = t(rm, [C], dev), rvT = t(rv, [C], dev);
    const ins = () => [t(x, [R, C], dev), t(b, [C], dev), t(gamma, [C], dev), t(beta, [C], dev)];
    const [out, mean, invstd] = runOp('bias_bn_relu_train', [...ins(), rmT, rvT], { eps: 1e-3, momentum: 0.9 });
    const pre = batchNormTrainRef(Array.from(x, (v, i) => v + b[i % C]), C, gamma, beta, 1e-3);
    expectClose(arr(out), biasBnRelu(x, b, gamma, beta));
    expectClose(arr(mean), pre.mean);
    expectClose(arr(rmT), Array.from(rm, (m, c) => 0.9 * m + 0.1 * pre.mean[c]));
    expectClose(arr(rvT), Array.from(rv, (v, c) => 0.9 * v + 0.1 * pre.v[c]));
    const [yi] = runOp('bias_bn_relu_infer', [...ins(), t(rm, [C], dev), t(rv, [C], dev)], { eps: 1e-3 });
    expectClose(arr(yi), Array.from(x, (v, i) => Math.max(0, ((v + b[i % C] - rm[i % C]) / Math.sqrt(rv[i % C] + 1e-3)) * gamma[i % C] + beta[i % C])));
    const [dconv, db, dg, dbeta] = runOp('bias_bn_relu_bwd', [t(dy, [R, C], dev), out, t(x, [R, C], dev), t(b, [C], dev), t(gamma, [C], dev), mean, invstd]);
    const L = (xx: ArrayLike<number>, bb: ArrayLike<number>, gg: ArrayLike<number>, be: ArrayLike<number>) => dot(dy, biasBnRelu(xx, bb, gg, be));
    expectClose(arr(dconv), numGrad((v) => L(v, b, gamma, beta), x));
    expectClose(arr(db), numGrad((v) => L(x, v, gamma, beta), b), { rtol: 2e-4, atol: 1e-4 }); // zero up to rounding
    expectClose(arr(dg), numGrad((v) => L(x, b, v, beta), gamma));
    expectClose(arr(dbeta), numGrad((v) => L(x, b, gamma, v), beta));
  }));

  test('dice_loss_bwd (dice + cross-entropy, with the seed and a scale)', () => E.tidy(() => {
    const N = 2, V = 3 * 2 * 2, K = 3;
    const x = randArray(N * V * K, rng, -3, 3), lab = Int32Array.from({ length: N * V }, () => Math.floor(rng() * K));
    const [, probs, stats] = runOp('dice_loss', [t(x, [N, 3, 2, 2, K], dev), t(lab, [N, 3, 2, 2], dev)], { eps: 1e-6, ce_weight: 0.5 });
    const [g] = runOp('dice_loss_bwd', [probs, t(lab, [N, 3, 2, 2], dev), stats, t(Float32Array.from([1.5]), [1], dev)], { eps: 1e-6, ce_weight: 0.5, scale: 2 });
    expectClose(arr(g), numGrad((v) => 3 * diceLossRef(v, lab, N, K, 1e-6, 0.5), x));
  }));

  test('cast f32 -> f16 -> f32 rounds to half precision; i32 casts', () => E.tidy(() => {
    const x = Float32Array.from([0, 1, -2.5, 65504, 1e-8, 3.14159, 70000, -1e-5]);
    const [h] = runOp('cast', [t(x, [8], dev)], { dtype: 'f16' });
    expect(h.dtype).toBe('f16');
    const back = arr(runOp('cast', [h], { dtype: 'f32' })[0]);
    expect(back.slice(0, 4)).toEqual([0, 1, -2.5, 65504]);
    expect(back[4]).toBe(0);
    expect(Math.abs(back[5] - 3.14159)).toBeLessThan(2e-3);
    expect(back[6]).toBe(Infinity);
    expect(Math.abs(back[7] + 1e-5)).toBeLessThan(1e-7);
    expect(arr(runOp('cast', [t(Float32Array.from([1.7, -2.7]), [2], dev)], { dtype: 'i32' })[0])).toEqual([1, -2]);
  }));

  test('fills, scale, axpy, sum_all', () => E.tidy(() => {
    const u = E.randomUniform([10000], -2, 3, 1234, dev);
    const v = arr(u);
    expect(Math.min(...v)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...v)).toBeLessThan(3);
    expect(Math.abs(v.reduce((a, b) => a + b, 0) / v.length - 0.5)).toBeLessThan(0.05);
    expect(arr(E.randomUniform([10000], -2, 3, 1234, dev))).toEqual(v); // same seed, same values
    expect(arr(E.fill([3], 2.5, dev))).toEqual([2.5, 2.5, 2.5]);
    const x = randArray(100, rng), y = randArray(100, rng);
    expectClose(arr(runOp('scale', [t(x, [100], dev)], { alpha: -3 })[0]), Array.from(x, (a) => -3 * a));
    const yT = t(y, [100], dev);
    runOp('axpy', [t(x, [100], dev), yT], { alpha: 0.5 });
    expectClose(arr(yT), Array.from(y, (b, i) => b + 0.5 * x[i]));
    expectClose(arr(runOp('sum_all', [t(x, [100], dev)])[0]), [x.reduce((a, b) => a + b, 0)]);
  }));

  test('rmsprop_step follows TF1 centered RMSProp', () => E.tidy(() => {
    const n = 64, w = randArray(n, rng), g = randArray(n, rng), ms = randArray(n, rng, 0.5, 1.5), mg = randArray(n, rng, -0.1, 0.1), mom = randArray(n, rng);
    const T = [w, g, ms, mg, mom].map((a) => t(a, [n], dev));
    runOp('rmsprop_step', T, { lr: 1e-2, rho: 0.9, eps: 1e-10, momentum: 0.5, centered: 1 });
    const wantMs = Array.from(ms, (m, i) => 0.9 * m + 0.1 * g[i] * g[i]);
    const wantMg = Array.from(mg, (m, i) => 0.9 * m + 0.1 * g[i]);
    const wantMom = Array.from(mom, (m, i) => 0.5 * m + (1e-2 * g[i]) / Math.sqrt(wantMs[i] - wantMg[i] ** 2 + 1e-10));
    expectClose(arr(T[2]), wantMs);
    expectClose(arr(T[3]), wantMg);
    expectClose(arr(T[4]), wantMom, { rtol: 1e-3, atol: 1e-6 });
    expectClose(arr(T[0]), Array.from(w, (v, i) => v - wantMom[i]), { rtol: 1e-3, atol: 1e-6 });
  }));

  test('adam_step and sgd_step', () => E.tidy(() => {
    const n = 32, w = randArray(n, rng), g = randArray(n, rng), m = randArray(n, rng), v = randArray(n, rng, 0.1, 1);
    const T = [w, g, m, v].map((a) => t(a, [n], dev));
    runOp('adam_step', T, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 3 });
    const wm = Array.from(m, (a, i) => 0.9 * a + 0.1 * g[i]);
    const wv = Array.from(v, (a, i) => 0.999 * a + 0.001 * g[i] ** 2);
    expectClose(arr(T[0]), Array.from(w, (a, i) => a - (1e-3 * wm[i] / (1 - 0.9 ** 3)) / (Math.sqrt(wv[i] / (1 - 0.999 ** 3)) + 1e-8)), { rtol: 1e-4, atol: 1e-6 });
    const S = [w, g, m].map((a) => t(a, [n], dev));
    runOp('sgd_step', S, { lr: 0.1, momentum: 0.9 });
    expectClose(arr(S[0]), Array.from(w, (a, i) => a - 0.1 * (0.9 * m[i] + g[i])));
  }));

  test('amp_unscale scales and flags non-finite values', () => E.tidy(() => {
    const g = t(Float32Array.from([2, 4, -8]), [3], dev);
    expect(arr(runOp('amp_unscale', [g], { inv_scale: 0.5 })[0])).toEqual([0]);
    expect(arr(g)).toEqual([1, 2, -4]);
    const bad = t(Float32Array.from([1, Infinity, 2]), [3], dev);
    expect(arr(runOp('amp_unscale', [bad], { inv_scale: 0.5 })[0])).toEqual([1]);
  }));
});

test('coverage: every native op was checked against a float64 reference above', () => {
  expect(native.ops().map((o) => o.name).filter((n) => !ran.has(n))).toEqual([]);
});

describe.each(devices)(`fp16 storage on %s (seed ${testSeed})`, (dev) => {
  // Inputs are rounded to fp16 first, so the only further error is fp16 rounding of the result.
  const half = (a: Float32Array) => E.tensor(a, [a.length], { dtype: 'f16' }).toArray() as Float32Array;
  const h = (a: Float32Array, shape: number[]) => E.tensor(a, shape, { dtype: 'f16', device: dev });
  const F16 = { rtol: 2e-3, atol: 2e-3 };

  test('conv3d fprop, dgrad and wgrad take fp16 and return fp16', () => E.tidy(() => {
    const c = convCases[0], g = geomOf(c);
    const xs = [c.N, ...c.sp, c.C], ws = [...c.k, c.C, c.K], ys = [c.N, ...g.O, c.K];
    const x = half(randArray(xs.reduce((a, b) => a * b), rng)), w = half(randArray(ws.reduce((a, b) => a * b), rng));
    const [y] = runOp('conv3d_fprop', [h(x, xs), h(w, ws)], { stride: c.s, pad: g.pad, pad_back: g.padBack });
    expect(y.dtype).toBe('f16');
    expectClose(arr(y), conv3dRef(x, w, g), F16);
    const dy = half(randArray(ys.reduce((a, b) => a * b), rng));
    expectClose(arr(runOp('conv3d_dgrad', [h(dy, ys), h(w, ws)], { stride: c.s, pad: g.pad, in_shape: c.sp })[0]), conv3dDgradRef(dy, w, g), F16);
    expectClose(arr(runOp('conv3d_wgrad', [h(x, xs), h(dy, ys)], { stride: c.s, pad: g.pad, ksize: c.k })[0]), conv3dWgradRef(x, dy, g), { rtol: 5e-3, atol: 5e-3 });
  }));

  test('element-wise ops, batch norm and the loss take fp16', () => E.tidy(() => {
    const x = half(randArray(60, rng, -2, 2));
    expectClose(arr(runOp('relu', [h(x, [60])])[0]), Array.from(x, (v) => Math.max(v, 0)), F16);
    const C = 3, gamma = Float32Array.from([1, 0.5, 2]), beta = Float32Array.from([0, 1, -1]);
    const [y] = runOp('batchnorm_train', [h(x, [20, C]), t(gamma, [C], dev), t(beta, [C], dev), E.zeros([C], { device: dev }), E.fill([C], 1, dev)], { eps: 1e-3, momentum: 0.99 });
    expect(y.dtype).toBe('f16');
    expectClose(arr(y), batchNormTrainRef(x, C, gamma, beta, 1e-3).y, { rtol: 5e-3, atol: 5e-3 });
    const lab = Int32Array.from({ length: 20 }, (_, i) => i % 3);
    const [loss, probs] = runOp('dice_loss', [h(x, [1, 20, C]), t(lab, [1, 20], dev)], { eps: 1e-6 });
    expect(probs.dtype).toBe('f32');
    expectClose(arr(loss), [diceLossRef(x, lab, 1, C, 1e-6)], { rtol: 1e-4, atol: 1e-5 });
  }));
});
