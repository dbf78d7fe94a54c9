// The golden end-to-end check of a small V-Net, CPU against CUDA: the same seeded weights and
// batch on both devices, then the loss, every parameter gradient by name, and the weights after
// several RMSProp steps. Used by the jest test (skipped without a GPU) and the GPU runner.
import * as E from '../../src/engine/index.js';
import { VNet } from '../../src/nn/index.js';
import { RMSProp } from '../../src/optim/index.js';
import { CapturedStep } from '../../src/runner/graph.js';

export interface GoldenResult {
  name: string;
  err: number; // ‖cuda − cpu‖∞ / ‖cpu‖∞
  tol: number;
  pass: boolean;
}

// Tolerances: cuDNN convolutions run in TF32 by default (10-bit mantissa inputs), so the loss
// agrees to ~1e-3 and gradients, which pass through ~10 convolutions, to a few 1e-3 of their
// scale; after RMSProp steps (which normalise by the gradient's RMS) the weights stay within
// ~1e-3 of their scale. With VNET_TF32=0 the errors drop to ~1e-5.
const TOL = { loss: 2e-3, grad: 2e-2, weight: 5e-3 };

function rel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0, err = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    err = Math.max(err, Math.abs(a[i] - b[i]));
  }
  return Number.isFinite(err) ? (scale > 0 ? err / scale : err) : Infinity;
}

export function goldenVNet(steps = 3, other: E.DeviceName = 'cuda'): GoldenResult[] {
  const cfg = { inputShape: [16, 16, 16] as E.Triple, downscaleBlocks: [1, 2], upscaleBlocks: [1] };
  const n = 2, vox = 16 ** 3;
  const img = Float32Array.from({ length: n * vox }, (_, i) => Math.sin(i * 0.37) + 0.1 * Math.cos(i * 0.011));
  const lab = Int32Array.from({ length: n * vox }, (_, i) => ((i >> 4) % 16 > 9 ? 2 : (i % 16) > 7 ? 1 : 0));
  const run = (device: E.DeviceName) => {
    const net = new VNet(cfg, { seed: 11, device });
    const opt = new RMSProp(1e-3);
    const out: { loss: number[]; grads: Map<string, Float32Array>; weights: Map<string, Float32Array> } = { loss: [], grads: new Map(), weights: new Map() };
    for (let s = 0; s < steps; s++) {
      E.tidy(() => {
        const { loss } = E.diceLoss(net.forward(E.tensor(img, [n, 16, 16, 16, 1], { device })), E.tensor(lab, [n, 16, 16, 16], { device }));
        out.loss.push(loss.item());
        E.backward(loss);
        if (s === 0) for (const [k, p] of net.parameters) out.grads.set(k, p.grad!.toArray() as Float32Array);
        opt.step(net.parameters);
        net.store.zeroGrad();
      });
    }
    for (const [k, t] of net.store.entries()) out.weights.set(k, t.toArray() as Float32Array);
    opt.dispose();
    net.dispose();
    return out;
  };
  const cpu = run('cpu'), gpu = run(other);
  const res: GoldenResult[] = [];
  const add = (name: string, err: number, tol: number) => res.push({ name, err, tol, pass: err <= tol });
  add('loss (each step)', rel(gpu.loss, cpu.loss), TOL.loss);
  for (const [k, g] of cpu.grads) add(`grad ${k}`, rel(gpu.grads.get(k)!, g), TOL.grad);
  for (const [k, w] of cpu.weights) add(`after ${steps} steps ${k}`, rel(gpu.weights.get(k)!, w), TOL.weight);
  return res;
}

/**
 * --xla's CUDA Graph against eager steps on the same device: the same seeded net and batches,
 * `steps` RMSProp steps each way (the graph path captures after one eager step, as training
 * does). Losses and final weights must agree to float tolerance (the same kernels run; only
 * cuDNN's choice of algorithm could differ), and the graph's memory must be released.
 */
export function graphVsEager(steps = 4, device: E.DeviceName = 'cuda'): GoldenResult[] {
  const cfg = { inputShape: [16, 16, 16] as E.Triple, downscaleBlocks: [1, 2], upscaleBlocks: [1] };
  const n = 2, vox = 16 ** 3;
  const batch = (s: number) => ({
    img: Float32Array.from({ length: n * vox }, (_, i) => Math.sin(i * 0.37 + s) + 0.1 * Math.cos(i * 0.011)),
    lab: Int32Array.from({ length: n * vox }, (_, i) => (((i + s * 5) >> 4) % 16 > 9 ? 2 : (i % 16) > 7 ? 1 : 0)),
  });
  const run = (graph: boolean) => {
    const before = E.memory()[device === 'cuda' ? 'cuda' : 'cpu'].bytes;
    const net = new VNet(cfg, { seed: 5, device });
    const opt = new RMSProp(1e-3);
    const losses: number[] = [];
    let cap: CapturedStep | undefined;
    for (let s = 0; s < steps; s++) {
      const { img, lab } = batch(s);
      if (graph && s > 0) {
        cap ??= CapturedStep.capture(net, n, { loss: 'dice' });
        losses.push(cap.run(img, lab));
        E.tidy(() => opt.step(net.parameters));
        continue;
      }
      E.tidy(() => {
        const { loss } = E.diceLoss(net.forward(E.tensor(img, [n, 16, 16, 16, 1], { device })), E.tensor(lab, [n, 16, 16, 16], { device }));
        losses.push(loss.item());
        E.backward(loss);
        opt.step(net.parameters);
        net.store.zeroGrad();
      });
    }
    cap?.dispose();
    const weights = new Map(net.store.entries().map(([k, t]) => [k, t.toArray() as Float32Array]));
    opt.dispose();
    net.dispose();
    E.native.sync();
    const leaked = E.memory()[device === 'cuda' ? 'cuda' : 'cpu'].bytes - before;
    return { losses, weights, leaked };
  };
  const eager = run(false), graph = run(true);
  const res: GoldenResult[] = [];
  const add = (name: string, err: number, tol: number) => res.push({ name, err, tol, pass: err <= tol });
  add('graph vs eager loss (each step)', rel(graph.losses, eager.losses), 1e-4);
  let worst = 0;
  for (const [k, w] of eager.weights) worst = Math.max(worst, rel(graph.weights.get(k)!, w));
  add(`graph vs eager weights after ${steps} steps (worst tensor)`, worst, 1e-3);
  add('graph memory released (live bytes left)', graph.leaked, 0);
  return res;
}
