// The golden V-Net check, CPU against CUDA (test/ops/golden.ts); skipped with the reason
// printed where no GPU is usable, and run by bench/gpu/check.sh on the GPU machine.
import { native } from '../bindings/native.js';
import { goldenVNet, graphVsEager, type GoldenResult } from './ops/golden.js';
import * as E from '../src/engine/index.js';
import { VNet } from '../src/nn/index.js';
import { CapturedStep } from '../src/train/captured-step.js';

const info = native.info();

/** True (after printing why) where no GPU can run the check. */
function noGpu(): boolean {
  if (info.cudaAvailable) return false;
  console.log(`skipped: no CUDA device (${info.cudaUnavailableReason ?? 'unknown'})`);
  return true;
}

/** The failed checks of a harness, one line each. */
const failures = (res: GoldenResult[]) => res.filter((r) => !r.pass).map((r) => `${r.name}: ${r.err.toExponential(2)} > ${r.tol}`);

test('small V-Net: loss, every gradient by name and weights after RMSProp steps match CPU', () => {
  if (noGpu()) return;
  expect(failures(goldenVNet())).toEqual([]);
});

test('the golden harness itself: CPU against CPU agrees exactly', () => {
  const res = goldenVNet(2, 'cpu');
  expect(res.length).toBeGreaterThan(20);
  expect(res.filter((r) => r.err !== 0)).toEqual([]);
});

test('--xla CUDA Graph: replaying the captured step equals eager steps (one between replays), and frees its memory', async () => {
  if (noGpu()) return;
  expect(failures(await graphVsEager())).toEqual([]);
});

test('graph capture of a CPU model is a clear error that leaves nothing open', () => {
  const net = new VNet({ inputShape: [16, 16, 16], downscaleBlocks: [1, 1], upscaleBlocks: [1] }, { seed: 1 });
  const live = E.memory().cpu.tensors;
  expect(() => CapturedStep.capture(net, 1, { loss: 'dice' })).toThrow(/CUDA/);
  expect(E.memory().cpu.tensors).toBe(live);
  net.dispose();
});

test('a device-side backward seed (what the graph replays) scales every gradient like a number does', () => {
  const net = new VNet({ inputShape: [16, 16, 16], downscaleBlocks: [1, 1], upscaleBlocks: [1] }, { seed: 2 });
  const vox = 16 ** 3;
  const img = Float32Array.from({ length: vox }, (_, i) => Math.sin(i * 0.3));
  const lab = Int32Array.from({ length: vox }, (_, i) => (i % 16 > 9 ? 2 : (i >> 4) % 16 > 7 ? 1 : 0));
  const grads = (seed: number | 'tensor') => E.tidy(() => {
    const { loss } = E.diceLoss(net.forward(E.tensor(img, [1, 16, 16, 16, 1])), E.tensor(lab, [1, 16, 16, 16]), { ceWeight: 1 });
    E.backward(loss, seed === 'tensor' ? E.tensor(new Float32Array([3]), [1]) : seed);
    const out = new Map([...net.parameters].map(([k, p]) => [k, Array.from(p.grad!.toArray() as Float32Array)]));
    net.store.zeroGrad();
    return out;
  });
  const one = grads(1), three = grads(3), dev = grads('tensor');
  // One scale for all: a conv bias in front of batch norm has a zero gradient up to rounding.
  const scale = Math.max(...[...one.values()].map((g) => Math.max(...g.map(Math.abs))));
  for (const [k, g] of one) {
    const g3 = three.get(k)!, gd = dev.get(k)!;
    for (let i = 0; i < g.length; i += 7) {
      expect(Math.abs(gd[i] - g3[i]) / scale).toBeLessThan(1e-5);
      expect(Math.abs(g3[i] - 3 * g[i]) / scale).toBeLessThan(1e-4);
    }
  }
  net.dispose();
});
