// SGD with weight decay and Nesterov momentum (nnU-Net's optimiser): several steps under a
// changing learning rate against a float64 reference, and a checkpointed run resumed from its
// slots that continues exactly as the uninterrupted one.
import * as E from '../../src/engine/index.js';
import { SGD, makeOptimizer, type Optimizer } from '../../src/optim/index.js';
import { Rng } from '../../src/data/rng.js';

const opts = { momentum: 0.99, nesterov: true, weightDecay: 3e-5 };
const shapes: Record<string, number[]> = { a: [3, 4], b: [7] };
const r = new Rng(5);
const init = Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, Float64Array.from({ length: s.reduce((x, y) => x * y, 1) }, () => r.float() - 0.5)]));
// The gradient of step t for each parameter: a fixed function of w and t, so both runs agree.
const grad = (w: ArrayLike<number>, t: number) => Float64Array.from(w, (v, i) => Math.sin(i + t) + 0.5 * v);
// nnU-Net's poly decay over 10 steps.
const lrAt = (t: number) => 1e-2 * (1 - t / 10) ** 0.9;

function runEngine(opt: Optimizer, params: Map<string, E.Tensor>, from: number, to: number): void {
  for (let t = from; t < to; t++) {
    for (const [k, p] of params) {
      p.grad?.dispose();
      p.grad = E.keep(E.tensor(Float32Array.from(grad(p.toArray() as Float32Array, t)), p.shape));
    }
    opt.step(params, lrAt(t));
  }
}

const fresh = () => new Map(Object.entries(init).map(([k, v]) => [k, E.keep(E.tensor(Float32Array.from(v), shapes[k]))]));

test('weights and momentum follow PyTorch\'s Nesterov SGD rule in float64 over 8 steps', () => {
  const params = fresh();
  const opt = makeOptimizer('sgd', 1e-2, opts.momentum, { nesterov: true, weightDecay: opts.weightDecay });
  runEngine(opt, params, 0, 8);
  for (const [k, v0] of Object.entries(init)) {
    const w = Float64Array.from(v0);
    const buf = new Float64Array(w.length);
    for (let t = 0; t < 8; t++) {
      // The gradient the engine saw was computed from its float32 weights: use the same.
      const g = grad(Float32Array.from(w), t);
      for (let i = 0; i < w.length; i++) {
        const gi = g[i] + opts.weightDecay * w[i];
        buf[i] = opts.momentum * buf[i] + gi;
        w[i] -= lrAt(t) * (gi + opts.momentum * buf[i]);
      }
    }
    const got = params.get(k)!.toArray() as Float32Array;
    const mom = opt.state().slots.get(`${k}/momentum`)!.toArray() as Float32Array;
    for (let i = 0; i < w.length; i++) {
      expect(Math.abs(got[i] - w[i])).toBeLessThan(1e-5);
      expect(Math.abs(mom[i] - buf[i])).toBeLessThan(1e-4 * Math.max(1, Math.abs(buf[i])));
    }
    // Nesterov differs from heavy-ball momentum: the reference without it is far off.
    const heavy = Float64Array.from(v0);
    const hb = new Float64Array(w.length);
    for (let t = 0; t < 8; t++) {
      const g = grad(Float32Array.from(heavy), t);
      for (let i = 0; i < w.length; i++) {
        hb[i] = opts.momentum * hb[i] + g[i] + opts.weightDecay * heavy[i];
        heavy[i] -= lrAt(t) * hb[i];
      }
    }
    expect(Math.max(...Array.from(got, (v, i) => Math.abs(v - heavy[i])))).toBeGreaterThan(1e-3);
  }
  opt.dispose();
  for (const p of params.values()) p.dispose();
});

test('plain SGD (no decay, no Nesterov) is unchanged: w -= lr * (momentum * mom + g)', () => {
  const params = fresh();
  const opt = new SGD(0.1, { momentum: 0.9 });
  runEngine(opt, params, 0, 1);
  for (const [k, v0] of Object.entries(init)) {
    const g = grad(Float32Array.from(v0), 0);
    const got = params.get(k)!.toArray() as Float32Array;
    for (let i = 0; i < g.length; i++) expect(got[i]).toBeCloseTo(v0[i] - lrAt(0) * g[i], 6);
  }
  opt.dispose();
});

test('resuming from saved slots and step continues bit-identically', () => {
  const straight = fresh();
  const a = new SGD(1e-2, opts);
  runEngine(a, straight, 0, 8);

  const first = fresh();
  const b = new SGD(1e-2, opts);
  runEngine(b, first, 0, 4);
  // What a checkpoint keeps: the weights, each slot and the step, copied out to the host.
  const saved = b.state();
  const slots = new Map([...saved.slots].map(([k, t]) => [k, { data: Float32Array.from(t.toArray() as Float32Array), shape: t.shape }]));
  const weights = new Map([...first].map(([k, t]) => [k, Float32Array.from(t.toArray() as Float32Array)]));
  b.dispose();
  expect([...slots.keys()].sort()).toEqual(['a/momentum', 'b/momentum']);

  const resumed = new Map([...weights].map(([k, v]) => [k, E.keep(E.tensor(v, shapes[k]))]));
  const c = new SGD(1e-2, opts);
  c.load({ step: saved.step, slots: new Map([...slots].map(([k, s]) => [k, E.tensor(s.data, s.shape)])) });
  expect(c.state().step).toBe(4);
  runEngine(c, resumed, 4, 8);
  for (const k of Object.keys(shapes)) {
    expect(Buffer.from((resumed.get(k)!.toArray() as Float32Array).buffer).equals(Buffer.from((straight.get(k)!.toArray() as Float32Array).buffer))).toBe(true);
  }
  for (const o of [a, c]) o.dispose();
});
