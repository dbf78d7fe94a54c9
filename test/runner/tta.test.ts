// Test-time augmentation: the mean over x/y flips makes prediction flip-equivariant, and
// without it predictProbs is a plain forward pass.
import * as E from '../../src/engine/index.js';
import { VNet } from '../../src/nn/index.js';
import { copyFlipped } from '../../src/data/index.js';
import { predictProbs } from '../../src/infer/probs.js';

const shape: [number, number, number] = [16, 16, 16];
const vox = 16 ** 3;
const C = 3;

function flip(a: Float32Array, n: number, per: number, s3: [number, number, number], f: { flipX: boolean; flipY: boolean }): Float32Array {
  const out = new Float32Array(a.length);
  for (let s = 0; s < n; s++) copyFlipped(a.subarray(s * per, (s + 1) * per), s3, f, out, s * per);
  return out;
}

test('with --tta, predicting a flipped volume gives the flipped prediction; without, it need not', () => {
  const live = E.memory().cpu.tensors;
  const net = new VNet({ inputShape: shape, downscaleBlocks: [1, 1], upscaleBlocks: [1] }, { seed: 4 });
  // Train-mode statistics are not used: inference mode with the initial moving averages.
  const n = 2;
  const images = Float32Array.from({ length: n * vox }, (_, i) => Math.sin(i * 0.13) + 0.3 * Math.cos(i * 0.007));
  const f = { flipX: true, flipY: false };
  const imgF = flip(images, n, vox, shape, f);
  const pt = predictProbs(net, { images, size: n }, { tta: true });
  const ptF = predictProbs(net, { images: imgF, size: n }, { tta: true });
  const back = flip(ptF, n, vox * C, [16, 16, 16 * C], f);
  let err = 0;
  for (let i = 0; i < pt.length; i++) err = Math.max(err, Math.abs(back[i] - pt[i]));
  expect(err).toBeLessThan(1e-5);
  // Probabilities still sum to one per voxel.
  for (let v = 0; v < n * vox; v += 97) expect(pt[v * C] + pt[v * C + 1] + pt[v * C + 2]).toBeCloseTo(1, 5);
  // The plain pass is not equivariant (a randomly initialised net has no reason to be).
  const p0 = predictProbs(net, { images, size: n });
  const p0F = flip(predictProbs(net, { images: imgF, size: n }), n, vox * C, [16, 16, 16 * C], f);
  let diff = 0;
  for (let i = 0; i < p0.length; i++) diff = Math.max(diff, Math.abs(p0F[i] - p0[i]));
  expect(diff).toBeGreaterThan(1e-4);
  net.dispose();
  expect(E.memory().cpu.tensors).toBe(live); // the extra passes leave nothing behind
});
