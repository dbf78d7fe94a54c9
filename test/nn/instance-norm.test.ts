// Instance normalisation (--normalization_layer instancenorm): the per-sample kernel against a
// float64 reference, and the V-Net with it: each sample normalised on its own (a batch gives
// what each sample gives alone), the same output in training and inference, AMP on the CPU.
import * as E from '../../src/engine/index.js';
import { VNet } from '../../src/nn/index.js';
import { makeRng, randArray } from '../ops/reference.js';

test('batchnorm_train per_sample: y = gamma (x - mean_nc) / sqrt(var_nc + eps) + beta, in float64', () => E.tidy(() => {
  const [N, S, C] = [3, 2 * 3 * 4, 5];
  const rng = makeRng(11);
  const x = randArray(N * S * C, rng, -2, 3);
  const gamma = randArray(C, rng, 0.5, 1.5), beta = randArray(C, rng);
  const rm = E.zeros([C]), rv = E.fill([C], 1);
  const [y, mean, invstd] = E.runOp('batchnorm_train', [E.tensor(x, [N, 2, 3, 4, C]), E.tensor(gamma, [C]), E.tensor(beta, [C]), rm, rv], { eps: 1e-3, momentum: 0.9, per_sample: 1 });
  expect(mean.shape).toEqual([N, C]);
  const got = y.toArray(), gm = mean.toArray(), gi = invstd.toArray();
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
    let m = 0, v = 0;
    for (let s = 0; s < S; s++) m += x[(n * S + s) * C + c];
    m /= S;
    for (let s = 0; s < S; s++) v += (x[(n * S + s) * C + c] - m) ** 2;
    v /= S;
    const inv = 1 / Math.sqrt(v + 1e-3);
    expect(gm[n * C + c]).toBeCloseTo(m, 5);
    expect(gi[n * C + c]).toBeCloseTo(inv, 4);
    for (let s = 0; s < S; s++) {
      const i = (n * S + s) * C + c;
      expect(Math.abs(got[i] - (gamma[c] * (x[i] - m) * inv + beta[c]))).toBeLessThan(1e-5 * (1 + Math.abs(got[i])));
    }
  }
  // The running averages are neither read nor written.
  expect(Array.from(rm.toArray())).toEqual(new Array(C).fill(0));
  expect(Array.from(rv.toArray())).toEqual(new Array(C).fill(1));
}));

describe('V-Net with instance normalisation', () => {
  const cfg = { inputShape: [16, 16, 16] as E.Triple, downscaleBlocks: [1, 1], upscaleBlocks: [1], normalization: 'instancenorm' as const };
  const vox = 16 ** 3;
  const data = Float32Array.from({ length: 2 * vox }, (_, i) => Math.sin(i * 0.37) + (i >= vox ? 2 : 0) * Math.cos(i * 0.11));

  test('has gamma and beta per unit and no running statistics', () => {
    const net = new VNet(cfg, { seed: 1 });
    const names = net.store.entries().map(([k]) => k);
    expect(names.some((k) => k.includes('instance_normalization') && k.endsWith('/gamma'))).toBe(true);
    expect(names.some((k) => k.includes('moving_'))).toBe(false);
    net.dispose();
  });

  test('a batch gives what each sample gives alone; inference equals training mode', () => E.tidy(() => {
    const net = new VNet(cfg, { seed: 1 });
    const both = E.noGrad(() => net.forward(E.tensor(data, [2, 16, 16, 16, 1])).toArray());
    const second = E.noGrad(() => net.forward(E.tensor(data.slice(vox), [1, 16, 16, 16, 1])).toArray());
    const per = both.length / 2;
    let worst = 0;
    for (let i = 0; i < per; i++) worst = Math.max(worst, Math.abs(both[per + i] - second[i]));
    expect(worst).toBeLessThan(1e-4);
    net.training = false;
    const inf = E.noGrad(() => net.forward(E.tensor(data, [2, 16, 16, 16, 1])).toArray());
    expect(Array.from(inf)).toEqual(Array.from(both));
    net.dispose();
  }));

  test('AMP on the CPU (fp16 storage) gives about the fp32 logits and finite gradients', () => E.tidy(() => {
    const f32 = new VNet(cfg, { seed: 2 });
    const want = E.noGrad(() => f32.forward(E.tensor(data, [2, 16, 16, 16, 1])).toArray());
    const amp = new VNet(cfg, { seed: 2 });
    amp.precision = 'f16';
    const y = amp.forward(E.tensor(data, [2, 16, 16, 16, 1]));
    const got = E.cast(y, 'f32').toArray();
    let worst = 0, scale = 0;
    for (let i = 0; i < want.length; i++) {
      worst = Math.max(worst, Math.abs(got[i] - want[i]));
      scale = Math.max(scale, Math.abs(want[i]));
    }
    expect(worst).toBeLessThan(2e-2 * scale);
    E.backward(E.diceLoss(y, E.tensor(Int32Array.from({ length: 2 * vox }, (_, i) => (data[i] > 0.5 ? 1 : 0)), [2, 16, 16, 16])).loss);
    for (const [k, p] of amp.parameters) {
      expect(p.grad).not.toBeNull();
      expect(Array.from(p.grad!.toArray()).every(Number.isFinite)).toBe(true);
      if (k.endsWith('/gamma')) expect(p.grad!.dtype).toBe('f32');
    }
    f32.dispose();
    amp.dispose();
  }));

  test('asking for it on CUDA is a clear error before anything runs', () => {
    expect(() => new VNet(cfg, { device: 'cuda' })).toThrow(/instancenorm runs on the CPU only/);
  });
});
