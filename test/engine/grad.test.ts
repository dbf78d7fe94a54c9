// Finite-difference checks of every differentiable op's gradient: L = Σ f(inputs)·R for a
// fixed random R; the tape's dL/dx is compared with central differences of L.
import * as E from '../../src/engine/index.js';
import type { Tensor } from '../../src/engine/index.js';
import { backward as tapeBackward } from '../../src/engine/tape.js';
import { makeRng, randArray } from './reference.js';
import { testDevices, testSeed } from './devices.js';

const devices = testDevices();

interface GradCase {
  name: string;
  inputs: { shape: number[]; lo?: number; hi?: number }[];
  f: (xs: Tensor[], dev: E.DeviceName) => Tensor;
  /** FD step: linear ops tolerate a large one (exact up to rounding). */
  h: number;
  rtol: number;
  labels?: number[]; // shape of an extra integer input
}

const bnState = (C: number, dev: E.DeviceName): E.BatchNormState => ({
  gamma: E.tensor(Float32Array.from({ length: C }, (_, i) => 0.8 + 0.1 * i), [C], { device: dev, requiresGrad: true }),
  beta: E.tensor(Float32Array.from({ length: C }, (_, i) => 0.1 * i), [C], { device: dev, requiresGrad: true }),
  runningMean: E.zeros([C], { device: dev }),
  runningVar: E.fill([C], 1, dev),
});

let labelsArr: Int32Array;

const cases: GradCase[] = [
  { name: 'conv3d 3^3 same', inputs: [{ shape: [1, 3, 4, 3, 2] }, { shape: [3, 3, 3, 2, 3] }], f: ([x, w]) => E.conv3d(x, w), h: 0.5, rtol: 1e-3 },
  { name: 'conv3d 2^3 stride 2', inputs: [{ shape: [2, 4, 4, 2, 3] }, { shape: [2, 2, 2, 3, 2] }], f: ([x, w]) => E.conv3d(x, w, { stride: [2, 2, 2] }), h: 0.5, rtol: 1e-3 },
  { name: 'conv3dTranspose 2^3 stride 2', inputs: [{ shape: [1, 2, 3, 2, 3] }, { shape: [2, 2, 2, 2, 3] }], f: ([x, w]) => E.conv3dTranspose(x, w, { stride: [2, 2, 2] }), h: 0.5, rtol: 1e-3 },
  { name: 'conv3dTranspose 3^3 stride 1', inputs: [{ shape: [1, 3, 3, 2, 2] }, { shape: [3, 3, 3, 3, 2] }], f: ([x, w]) => E.conv3dTranspose(x, w), h: 0.5, rtol: 1e-3 },
  { name: 'biasAdd', inputs: [{ shape: [2, 3, 4] }, { shape: [4] }], f: ([x, b]) => E.biasAdd(x, b), h: 0.5, rtol: 1e-3 },
  { name: 'relu', inputs: [{ shape: [50] }], f: ([x]) => E.relu(x), h: 1e-3, rtol: 1e-2 },
  { name: 'add (1->C broadcast)', inputs: [{ shape: [2, 3, 4] }, { shape: [2, 3, 1] }], f: ([a, b]) => E.add(a, b), h: 0.5, rtol: 1e-3 },
  { name: 'concat', inputs: [{ shape: [2, 3, 2] }, { shape: [2, 3, 3] }], f: ([a, b]) => E.concat(a, b), h: 0.5, rtol: 1e-3 },
  { name: 'split', inputs: [{ shape: [2, 5] }], f: ([x]) => { const [a, b] = E.split(x, 2); return E.concat(E.scale(b, 2), a); }, h: 0.5, rtol: 1e-3 },
  { name: 'scale', inputs: [{ shape: [7] }], f: ([x]) => E.scale(x, -1.5), h: 0.5, rtol: 1e-3 },
  {
    name: 'batchNorm (training)', inputs: [{ shape: [2, 3, 2, 3], lo: -2, hi: 2 }],
    f: ([x], dev) => { const s = bnState(3, dev); return E.batchNorm(x, s, { training: true }); }, h: 1e-2, rtol: 2e-2,
  },
  {
    name: 'diceLoss', inputs: [{ shape: [2, 3, 2, 2, 3], lo: -2, hi: 2 }], labels: [2, 3, 2, 2],
    f: ([x], dev) => E.diceLoss(x, E.tensor(labelsArr, [2, 3, 2, 2], { device: dev })).loss, h: 1e-2, rtol: 2e-2,
  },
  {
    name: 'diceLoss + cross-entropy', inputs: [{ shape: [2, 2, 2, 3, 3], lo: -2, hi: 2 }], labels: [2, 2, 2, 3],
    f: ([x], dev) => E.diceLoss(x, E.tensor(labelsArr, [2, 2, 2, 3], { device: dev }), { ceWeight: 1 }).loss, h: 1e-2, rtol: 2e-2,
  },
];

describe.each(devices)(`gradients on %s (seed ${testSeed})`, (dev) => {
  test.each(cases)('$name', (c) => {
    const rng = makeRng(testSeed + c.name.length);
    if (c.labels) labelsArr = Int32Array.from({ length: c.labels.reduce((a, b) => a * b, 1) }, () => Math.floor(rng() * 3));
    E.tidy(() => {
      const data = c.inputs.map((s) => {
        const a = randArray(s.shape.reduce((p, q) => p * q, 1), rng, s.lo ?? -1, s.hi ?? 1);
        // Keep ReLU inputs away from the kink, where the derivative does not exist.
        if (c.name === 'relu') for (let i = 0; i < a.length; i++) if (Math.abs(a[i]) < 0.05) a[i] = 0.1;
        return a;
      });
      const xs = data.map((a, i) => E.tensor(a, c.inputs[i].shape, { device: dev, requiresGrad: true }));
      const y0 = c.f(xs, dev);
      const R = randArray(y0.size, rng);
      const objective = (ys: Tensor) => ys.toArray().reduce((s, v, i) => s + v * R[i], 0);
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
          const f = (d: Float32Array[]) => E.noGrad(() => E.tidy(() => objective(c.f(d.map((a, k) => E.tensor(a, c.inputs[k].shape, { device: dev })), dev))));
          const numeric = (f(plus) - f(minus)) / (2 * c.h);
          const err = Math.abs(numeric - analytic[j]);
          if (err > c.rtol * Math.max(Math.abs(numeric), 0.1 * scaleRef, 1e-3))
            throw new Error(`${c.name}: input ${i}[${j}] analytic ${analytic[j]} vs numeric ${numeric}`);
        }
      });
    });
  });
});

// The fused unit is checked against the same math composed from the single ops above (whose
// gradients are checked by finite differences): FD straight through the ReLU kink after batch
// norm is too noisy to be a reliable test.
describe.each(devices)(`fused conv-BN-ReLU on %s (seed ${testSeed})`, (dev) => {
  test.each([[false, false], [true, false], [false, true], [true, true]])('transposed=%p, native fused kernels=%p: outputs, gradients and running statistics equal the composed ops', (transposed, nativeFused) => {
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
  });
});
