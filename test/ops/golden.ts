// The golden end-to-end check of a small V-Net, CPU against CUDA: the same seeded weights and
// batch on both devices, then the loss, every parameter gradient by name, and each tensor's
// change over several optimizer steps. Used by the jest test (skipped without a GPU) and the
// GPU runner.
import * as E from '../../src/engine/index.js';
import { VNet } from '../../src/nn/index.js';
import { SGD } from '../../src/optim/index.js';
import { LocalCommunicator } from '../../src/train/communicator.js';
import type { LogSink } from '../../src/train/log.js';
import { TrainingStep } from '../../src/train/step.js';

export interface GoldenResult {
  name: string;
  err: number; // ‖cuda − cpu‖∞ / max(‖cpu‖∞, floor)
  tol: number;
  pass: boolean;
}

// Tolerances: cuDNN convolutions run in TF32 by default (10-bit mantissa inputs), so the loss
// agrees to ~1e-3 and gradients, which pass through ~10 convolutions, to a few 1e-3 of their
// scale. Without TF32 (E.useDevice({ tf32: false })) the errors drop to ~1e-5.
const TOL = { loss: 2e-3, grad: 2e-2, update: 2e-2 };
// Every tensor is measured against at least this fraction of the largest tensor of its kind in
// the whole model (as the op table's scaleFloor): a conv bias in front of batch norm has a
// gradient that is zero up to rounding, so against its own size it would read as a 100 % error.
const FLOOR = 1e-2;

const maxAbs = (a: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
};

/** ‖a − b‖∞ / max(‖b‖∞, floor); Infinity when a value is not finite. */
function rel(a: ArrayLike<number>, b: ArrayLike<number>, floor = 0): number {
  let err = 0;
  for (let i = 0; i < b.length; i++) err = Math.max(err, Math.abs(a[i] - b[i]));
  const scale = Math.max(maxAbs(b), floor);
  return Number.isFinite(err) ? (scale > 0 ? err / scale : err) : Infinity;
}

/** Per-tensor errors of `got` against `want`, each floored at FLOOR × the largest of `want`. */
function relAll(got: Map<string, Float32Array>, want: Map<string, Float32Array>): Map<string, number> {
  const floor = FLOOR * Math.max(0, ...[...want.values()].map(maxAbs));
  return new Map([...want].map(([k, w]) => [k, rel(got.get(k)!, w, floor)]));
}

const minus = (a: Float32Array, b: Float32Array) => a.map((x, i) => x - b[i]);

interface Trajectory {
  loss: number[];
  grads: Map<string, Float32Array>; // of the first step
  params: Map<string, Float32Array>; // parameter change over the steps
  buffers: Map<string, Float32Array>; // batch-norm moving statistics, change over the steps
}

// SGD with momentum, not RMSProp: RMSProp's first steps move every weight by about ±3·lr
// whatever its gradient's size, so a gradient within rounding of zero may step the other way on
// the other device and the comparison would measure signs of noise. SGD's updates are linear in
// the gradients; the RMSProp kernel itself is checked by the op table (rmsprop_step).
const optimizer = () => new SGD(0.05, { momentum: 0.9 });

function changes(net: VNet, before: Map<string, Float32Array>): Pick<Trajectory, 'params' | 'buffers'> {
  const params = new Map<string, Float32Array>(), buffers = new Map<string, Float32Array>();
  for (const [k, t] of net.store.entries()) (net.parameters.has(k) ? params : buffers).set(k, minus(t.toArray() as Float32Array, before.get(k)!));
  return { params, buffers };
}

const snapshot = (net: VNet) => new Map(net.store.entries().map(([k, t]) => [k, t.toArray() as Float32Array]));

export function goldenVNet(steps = 3, other: E.DeviceName = 'cuda'): GoldenResult[] {
  const cfg = { inputShape: [16, 16, 16] as E.Triple, downscaleBlocks: [1, 2], upscaleBlocks: [1] };
  const n = 2, vox = 16 ** 3;
  const img = Float32Array.from({ length: n * vox }, (_, i) => Math.sin(i * 0.37) + 0.1 * Math.cos(i * 0.011));
  const lab = Int32Array.from({ length: n * vox }, (_, i) => ((i >> 4) % 16 > 9 ? 2 : (i % 16) > 7 ? 1 : 0));
  const run = (device: E.DeviceName): Trajectory => {
    const net = new VNet(cfg, { seed: 11, device });
    const opt = optimizer();
    const before = snapshot(net);
    const loss: number[] = [], grads = new Map<string, Float32Array>();
    for (let s = 0; s < steps; s++) {
      E.tidy(() => {
        const { loss: l } = E.diceLoss(net.forward(E.tensor(img, [n, 16, 16, 16, 1], { device })), E.tensor(lab, [n, 16, 16, 16], { device }));
        loss.push(l.item());
        E.backward(l);
        if (s === 0) for (const [k, p] of net.parameters) grads.set(k, p.grad!.toArray() as Float32Array);
        opt.step(net.parameters);
        net.store.zeroGrad();
      });
    }
    const out = { loss, grads, ...changes(net, before) };
    opt.dispose();
    net.dispose();
    return out;
  };
  const cpu = run('cpu'), gpu = run(other);
  const res: GoldenResult[] = [];
  const add = (name: string, err: number, tol: number) => res.push({ name, err, tol, pass: err <= tol });
  add('loss (each step)', rel(gpu.loss, cpu.loss), TOL.loss);
  for (const [k, e] of relAll(gpu.grads, cpu.grads)) add(`grad ${k}`, e, TOL.grad);
  for (const [k, e] of relAll(gpu.params, cpu.params)) add(`change over ${steps} steps ${k}`, e, TOL.update);
  for (const [k, e] of relAll(gpu.buffers, cpu.buffers)) add(`change over ${steps} steps ${k}`, e, TOL.update);
  return res;
}

/**
 * --xla's CUDA Graph against eager steps on the same device: the same seeded net and batches
 * through the training step (`TrainingStep`), once eagerly and once with the graph (captured
 * after one eager step, as training does), with SGD and deterministic cuDNN algorithms (the
 * engine's math mode, set here and restored after) so both paths pick the same kernels. Step 2
 * is a batch of one, so the graph path runs an eager step between replays: it must leave the
 * graph's gradients alone. Losses and weight changes must agree to float tolerance, and the
 * graph's memory must be released.
 */
export async function graphVsEager(steps = 5, device: E.DeviceName = 'cuda'): Promise<GoldenResult[]> {
  const prev = E.info().deterministic;
  E.useDevice({ device, deterministic: true });
  try {
    return await graphVsEagerRun(steps, device);
  } finally {
    E.useDevice({ device, deterministic: prev });
  }
}

const quiet: LogSink = { log: () => {}, info: () => {}, progress: () => {}, close: () => {} };

async function graphVsEagerRun(steps: number, device: E.DeviceName): Promise<GoldenResult[]> {
  const cfg = { inputShape: [16, 16, 16] as E.Triple, downscaleBlocks: [1, 2], upscaleBlocks: [1] };
  const n = 2, vox = 16 ** 3;
  const size = (s: number) => (s === 2 ? 1 : n);
  const batch = (s: number) => ({
    img: Float32Array.from({ length: size(s) * vox }, (_, i) => Math.sin(i * 0.37 + s) + 0.1 * Math.cos(i * 0.011)),
    lab: Int32Array.from({ length: size(s) * vox }, (_, i) => (((i + s * 5) >> 4) % 16 > 9 ? 2 : (i % 16) > 7 ? 1 : 0)),
  });
  const run = async (graph: boolean) => {
    const before = E.memory()[device === 'cuda' ? 'cuda' : 'cpu'].bytes;
    const net = new VNet(cfg, { seed: 5, device });
    const opt = optimizer();
    const init = snapshot(net);
    const step = new TrainingStep(net, opt, new LocalCommunicator(), { loss: 'dice', graph: graph ? { batch: n, log: quiet } : undefined });
    const losses: number[] = [];
    try {
      for (let s = 0; s < steps; s++) {
        const { img, lab } = batch(s);
        losses.push(await step.run(img, lab, size(s), 0.05));
      }
    } finally {
      step.dispose();
    }
    const { params } = changes(net, init);
    opt.dispose();
    net.dispose();
    E.sync();
    const leaked = E.memory()[device === 'cuda' ? 'cuda' : 'cpu'].bytes - before;
    return { losses, params, leaked };
  };
  const eager = await run(false), graph = await run(true);
  const det = E.info().deterministic;
  const res: GoldenResult[] = [];
  const add = (name: string, err: number, tol: number) => res.push({ name, err, tol, pass: err <= tol });
  add(`graph vs eager loss (each step, an eager batch of 1 between replays; deterministic algorithms: ${det ? 'yes' : 'no'})`, rel(graph.losses, eager.losses), 1e-4);
  add(`graph vs eager weight change over ${steps} steps (worst tensor)`, Math.max(0, ...relAll(graph.params, eager.params).values()), 1e-3);
  add('graph memory released (live bytes left)', graph.leaked, 0);
  return res;
}
