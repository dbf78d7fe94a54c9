// Finite-difference checks of every differentiable op's gradient (the cases are in the op
// table, test/ops/table.ts): L = Σ f(inputs)·R for a fixed random R; the tape's dL/dx is
// compared with central differences of L. The last test asserts that these checks ran every
// native op that is not marked non-differentiable in the table.
import { native } from '../../bindings/native.js';
import * as E from '../../src/engine/index.js';
import type { Tensor } from '../../src/engine/index.js';
import { backward as tapeBackward } from '../../src/engine/tape.js';
import { makeRng, randArray } from '../ops/reference.js';
import { GRAD_CASES, NON_DIFFERENTIABLE, bnState, traceOps } from '../ops/table.js';
import { testDevices, testSeed } from './devices.js';

const devices = testDevices();

// The native ops the checks below ran on the CPU (every check runs there).
const ran = new Set<string>();
function traced<T>(dev: E.DeviceName, fn: () => T): T {
  const untrace = dev === 'cpu' ? traceOps(native, ran) : () => {};
  try {
    return fn();
  } finally {
    untrace();
  }
}

describe.each(devices)(`gradients on %s (seed ${testSeed})`, (dev) => {
  test.each(GRAD_CASES)('$name', (c) => traced(dev, () => {
    if (c.cpuOnly && dev !== 'cpu') {
      console.log(`skipped on ${dev}: ${c.cpuOnly}`);
      return;
    }
    const rng = makeRng(testSeed + c.name.length);
    const labels = Int32Array.from({ length: c.labels ? c.labels.reduce((a, b) => a * b, 1) : 0 }, () => Math.floor(rng() * 3));
    E.tidy(() => {
      const data = c.inputs.map((s) => {
        const a = randArray(s.shape.reduce((p, q) => p * q, 1), rng, s.lo ?? -1, s.hi ?? 1);
        const away = c.awayFromZero ?? 0;
        for (let i = 0; i < a.length; i++) if (Math.abs(a[i]) < away) a[i] = 2 * away;
        return a;
      });
      const xs = data.map((a, i) => E.tensor(a, c.inputs[i].shape, { device: dev, requiresGrad: true }));
      const y0 = c.f(xs, dev, labels);
      const R = randArray(y0.size, rng);
      const objective = (ys: Tensor) => Array.from(ys.toArray()).reduce((s, v, i) => s + v * R[i], 0);
      // Analytic: L = Σ y·R is linear in y, so dL/dy = R seeds the tape.
      tapeBackward(y0, E.tensor(R, y0.shape, { device: dev }), (a, b) => E.add(a, b));
      xs.forEach((x, i) => {
        expect(x.grad).not.toBeNull();
        const analytic = x.grad!.toArray();
        // Check every coordinate for small inputs, a sample of 24 otherwise.
        const idx = data[i].length <= 60 ? [...data[i].keys()] : Array.from({ length: 24 }, () => Math.floor(rng() * data[i].length));
        let scaleRef = 0;
        for (const v of analytic) scaleRef = Math.max(scaleRef, Math.abs(v));
        for (const j of idx) {
          const plus = data.map((a) => a.slice()), minus = data.map((a) => a.slice());
          plus[i][j] += c.h;
          minus[i][j] -= c.h;
          const f = (d: Float32Array[]) => E.noGrad(() => E.tidy(() => objective(c.f(d.map((a, k) => E.tensor(a, c.inputs[k].shape, { device: dev })), dev, labels))));
          const numeric = (f(plus) - f(minus)) / (2 * c.h);
          const err = Math.abs(numeric - analytic[j]);
          if (err > c.rtol * Math.max(Math.abs(numeric), 0.1 * scaleRef, 1e-3))
            throw new Error(`${c.name}: input ${i}[${j}] analytic ${analytic[j]} vs numeric ${numeric}`);
        }
      });
    });
  }));
});

// The fused unit is checked against the same math composed from the single ops above (whose
// gradients are checked by finite differences): FD straight through the ReLU kink after batch
// norm is too noisy to be a reliable test.
describe.each(devices)(`fused conv-BN-ReLU on %s (seed ${testSeed})`, (dev) => {
  test.each([[false, false], [true, false], [false, true], [true, true]])('transposed=%p, native fused kernels=%p: outputs, gradients and running statistics equal the composed ops', (transposed, nativeFused) => traced(dev, () => {
    const rng = makeRng(testSeed + (transposed ? 1 : 2));
    E.tidy(() => {
      const xs = transposed ? [2, 2, 3, 2, 3] : [2, 4, 3, 4, 2], ws = transposed ? [2, 2, 2, 2, 3] : [3, 3, 3, 2, 3];
      const C = ws[transposed ? 3 : 4], stride: E.Triple = transposed ? [2, 2, 2] : [1, 1, 1];
      const xd = randArray(xs.reduce((a, b) => a * b), rng), wd = randArray(ws.reduce((a, b) => a * b), rng), bd = randArray(C, rng);
      const run = (fused: boolean) => {
        const x = E.tensor(xd, xs, { device: dev, requiresGrad: true }), w = E.tensor(wd, ws, { device: dev, requiresGrad: true }), b = E.tensor(bd, [C], { device: dev, requiresGrad: true });
        const bn = bnState(C, dev);
        const y = fused
          ? E.convBnRelu(x, w, b, bn, { stride, transposed, training: true, eps: 1e-3, momentum: 0.99, fused: nativeFused })
          : E.relu(E.batchNorm(E.biasAdd(transposed ? E.conv3dTranspose(x, w, { stride }) : E.conv3d(x, w, { stride }), b), bn, { training: true }));
        const R = E.tensor(randArray(y.size, makeRng(7)), y.shape, { device: dev });
        tapeBackward(y, R, (p, q) => E.add(p, q));
        return [y, x.grad!, w.grad!, b.grad!, bn.gamma.grad!, bn.beta.grad!, bn.runningMean, bn.runningVar].map((t) => Array.from(t.toArray()));
      };
      const f = run(true), u = run(false);
      // The bias gradient is zero up to rounding either way (batch norm removes any shift).
      f.forEach((arr, i) => arr.forEach((v, j) => expect(Math.abs(v - u[i][j])).toBeLessThanOrEqual((i === 3 ? 1e-4 : 1e-5) * (1 + Math.abs(u[i][j])))));
      // Inference: fused and composed agree too.
      const bn = bnState(C, dev);
      const xi = E.tensor(xd, xs, { device: dev }), wi = E.tensor(wd, ws, { device: dev }), bi = E.tensor(bd, [C], { device: dev });
      const yi = E.convBnRelu(xi, wi, bi, bn, { stride, transposed, training: false, eps: 1e-3, momentum: 0.99, fused: nativeFused });
      const yu = E.relu(E.batchNorm(E.biasAdd(transposed ? E.conv3dTranspose(xi, wi, { stride }) : E.conv3d(xi, wi, { stride }), bi), bn, { training: false }));
      const a = yi.toArray(), c = yu.toArray();
      a.forEach((v, j) => expect(Math.abs(v - c[j])).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(c[j]))));
    });
  }));
});

test('instance norm unit (perSample): outputs and gradients equal the composed ops, inference equals training, running statistics untouched', () => {
  const rng = makeRng(testSeed + 3);
  E.tidy(() => {
    const xs = [2, 4, 3, 4, 2], ws = [3, 3, 3, 2, 3], C = 3, stride: E.Triple = [1, 1, 1];
    const xd = randArray(xs.reduce((a, b) => a * b), rng), wd = randArray(ws.reduce((a, b) => a * b), rng), bd = randArray(C, rng);
    const run = (unit: boolean, training: boolean) => {
      const x = E.tensor(xd, xs, { requiresGrad: true }), w = E.tensor(wd, ws, { requiresGrad: true }), b = E.tensor(bd, [C], { requiresGrad: true });
      const bn = bnState(C, 'cpu');
      const y = unit
        ? E.convBnRelu(x, w, b, bn, { stride, transposed: false, training, eps: 1e-3, momentum: 0.99, fused: true, perSample: true })
        : E.relu(E.batchNorm(E.biasAdd(E.conv3d(x, w), b), bn, { training, perSample: true }));
      if (!training) return [Array.from(y.toArray())];
      tapeBackward(y, E.tensor(randArray(y.size, makeRng(7)), y.shape), (p, q) => E.add(p, q));
      return [y, x.grad!, w.grad!, b.grad!, bn.gamma.grad!, bn.beta.grad!, bn.runningMean, bn.runningVar].map((t) => Array.from(t.toArray()));
    };
    const f = run(true, true), u = run(false, true);
    f.forEach((arr, i) => arr.forEach((v, j) => expect(Math.abs(v - u[i][j])).toBeLessThanOrEqual((i === 3 ? 1e-4 : 1e-5) * (1 + Math.abs(u[i][j])))));
    expect(f[6]).toEqual([0, 0, 0]);
    expect(f[7]).toEqual([1, 1, 1]);
    expect(run(true, false)[0]).toEqual(f[0]);
    expect(run(false, false)[0]).toEqual(u[0]);
  });
});

test('coverage: every native op is run by a gradient check above or marked non-differentiable in the op table', () => {
  const ops = native.ops().map((o) => o.name);
  expect(Object.keys(NON_DIFFERENTIABLE).filter((n) => !ops.includes(n))).toEqual([]); // no stale entries
  expect(ops.filter((n) => !ran.has(n) && !(n in NON_DIFFERENTIABLE))).toEqual([]);
});
