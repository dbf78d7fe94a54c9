// AMP's logic on the CPU (fp16 storage, fp32 arithmetic): loss scaling, the skipped overflow
// step that leaves the weights untouched, the scale schedule, and training that still learns.
import * as E from '../../src/engine/index.js';
import { VNet } from '../../src/nn/index.js';
import { LossScaler, RMSProp } from '../../src/optim/index.js';
import { trainStep } from '../../src/runner/index.js';
import { loadDataset, prepareCase, defaultDataDir } from '../../src/data/index.js';

const small = { inputShape: [16, 16, 16] as [number, number, number], downscaleBlocks: [1, 1], upscaleBlocks: [1] };

function weights(net: VNet): Float32Array[] {
  return [...net.parameters.values()].map((p) => p.toArray() as Float32Array);
}

test('the scale halves and the step is skipped on overflow; doubles after the growth interval', () => {
  const s = new LossScaler({ growthInterval: 3 });
  expect(s.scale).toBe(32768);
  expect(s.update(true)).toBe(false);
  expect(s.scale).toBe(16384);
  for (let i = 0; i < 3; i++) expect(s.update(false)).toBe(true);
  expect(s.scale).toBe(32768);
  expect(s.state()).toEqual({ scale: 32768, goodSteps: 0 });
});

test('an overflowing step leaves every weight untouched; a finite one changes them', async () => {
  const net = new VNet(small, { seed: 1 });
  net.precision = 'f16';
  const opt = new RMSProp(1e-3);
  const img = Float32Array.from({ length: 2 * 16 ** 3 }, (_, i) => Math.sin(i));
  const lab = Int32Array.from({ length: 2 * 16 ** 3 }, (_, i) => (i % 16 > 8 ? 1 : 0));
  // A scale so large that the fp16 gradients overflow.
  const scaler = new LossScaler({ initScale: 2 ** 40 });
  const before = weights(net);
  await trainStep(net, opt, img, lab, 2, { loss: 'dice', lr: 1e-3 }, scaler);
  expect(scaler.skipped).toBe(1);
  expect(scaler.scale).toBe(2 ** 39);
  weights(net).forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(before[i])));
  const ok = new LossScaler();
  await trainStep(net, opt, img, lab, 2, { loss: 'dice', lr: 1e-3 }, ok);
  expect(ok.skipped).toBe(0);
  expect(weights(net).some((w, i) => w.some((v, j) => v !== before[i][j]))).toBe(true);
  opt.dispose();
  net.dispose();
});

test('AMP training on a few real cases lowers the loss like fp32 does', async () => {
  const ds = loadDataset(defaultDataDir());
  const cases = ds.training.slice(0, 4).map((c) => prepareCase(c, [16, 16, 16]));
  const img = new Float32Array(4 * 16 ** 3), lab = new Int32Array(4 * 16 ** 3);
  cases.forEach((c, i) => { img.set(c.image, i * 16 ** 3); lab.set(c.label!, i * 16 ** 3); });
  const run = async (amp: boolean) => {
    const net = new VNet(small, { seed: 5 });
    if (amp) net.precision = 'f16';
    const opt = new RMSProp(3e-3);
    const scaler = amp ? new LossScaler() : undefined;
    const losses: number[] = [];
    for (let s = 0; s < 12; s++) losses.push(await trainStep(net, opt, img, lab, 4, { loss: 'dice', lr: 3e-3 }, scaler));
    opt.dispose();
    net.dispose();
    return losses;
  };
  const f32 = await run(false), f16 = await run(true);
  expect(f16[0]).toBeCloseTo(f32[0], 2);
  expect(f16[11]).toBeLessThan(f16[0] - 0.1);
  expect(Math.abs(f16[11] - f32[11])).toBeLessThan(0.1);
});
