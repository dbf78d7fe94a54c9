// Native-resolution wiring: deep supervision (shapes, names, loss weights), the loader's
// full-resolution patches, and masks in the input's exact geometry (a label fed through the sliding
// window as a perfect prediction comes back identical; the segmenter keeps the header).
import zlib from 'node:zlib';
import * as E from '../../src/engine/index.js';
import { Loader, argmaxChannels, encodeMask, niftiAffine, prepareCase, readNifti, readNiftiLabels, type Shape3 } from '../../src/data/index.js';
import { extractPatch, patchStart } from '../../src/data/patches.js';
import { Rng } from '../../src/data/rng.js';
import { ConfigError, VNet } from '../../src/nn/index.js';
import { deepSupervisionWeights, subsampleLabels, trainingLoss } from '../../src/train/loss.js';
import { windowedProbs } from '../../src/infer/probs.js';
import { slidingWindow } from '../../src/infer/sliding.js';
import { Segmenter } from '../../src/infer/segmenter.js';
import { itData, real } from '../data/helpers.js';

const small = { inputShape: [16, 16, 16] as [number, number, number], downscaleBlocks: [1, 1, 1], upscaleBlocks: [1, 1] };

describe('deep supervision', () => {
  it("nnU-Net's weights: halving, the coarsest at 0, normalised", () => {
    expect(deepSupervisionWeights(1)).toEqual([1]);
    const w3 = deepSupervisionWeights(3);
    [2 / 3, 1 / 3, 0].forEach((v, i) => expect(w3[i]).toBeCloseTo(v, 12));
    const w4 = deepSupervisionWeights(4);
    [4 / 7, 2 / 7, 1 / 7, 0].forEach((v, i) => expect(w4[i]).toBeCloseTo(v, 12));
  });

  it('labels are subsampled voxel factor * i on each axis', () => {
    const shape: Shape3 = [4, 4, 6];
    const lab = Int32Array.from({ length: 2 * 96 }, (_, i) => i);
    const out = subsampleLabels(lab, 2, shape, 2);
    expect(out.length).toBe(2 * 2 * 2 * 3);
    expect(out[0]).toBe(0);
    expect(out[1]).toBe(2); // z = 2
    expect(out[3]).toBe(2 * 6); // y = 2
    expect(out[6]).toBe(2 * 24); // x = 2
    expect(out[12]).toBe(96); // sample 1
  });

  it('heads on the supervised decoder levels only; other names and weights as without', () => {
    const plain = new VNet(small, { seed: 5 });
    const deep = new VNet({ ...small, deepSupervision: true }, { seed: 5 });
    try {
      const extra = [...deep.parameters.keys()].filter((k) => !plain.parameters.has(k));
      expect(extra).toHaveLength(2); // one 1³ head (kernel, bias) at 1/2 resolution; the 1/4 level has weight 0
      expect(deep.parameters.get(extra.find((k) => k.endsWith('kernel'))!)!.shape).toEqual([1, 1, 1, 64, 3]);
      // Byte comparison: jest's deep equality is slow on arrays this long.
      const bytes = (t: E.Tensor) => Buffer.from((t.toArray() as Float32Array).buffer);
      for (const [k, t] of plain.parameters) expect(bytes(deep.parameters.get(k)!).equals(bytes(t))).toBe(true);
      const x = E.tensor(Float32Array.from({ length: 2 * 4096 }, (_, i) => Math.sin(i)), [2, 16, 16, 16, 1]);
      deep.training = false;
      plain.training = false;
      const outs = deep.forwardDeep(x);
      expect(outs.map((t) => t.shape)).toEqual([[2, 16, 16, 16, 3], [2, 8, 8, 8, 3]]);
      expect(bytes(deep.forward(x)).equals(bytes(outs[0]))).toBe(true);
      expect(bytes(plain.forward(x)).equals(bytes(outs[0]))).toBe(true);
      expect(plain.forwardDeep(x)).toHaveLength(1);
    } finally {
      plain.dispose();
      deep.dispose();
    }
    expect(() => new VNet({ inputShape: [16, 16, 16], downscaleBlocks: [1, 1], upscaleBlocks: [1], deepSupervision: true })).toThrow(ConfigError);
  });

  it('the loss is the weighted sum of the levels, and the head learns', () => {
    const net = new VNet({ ...small, deepSupervision: true }, { seed: 2 });
    try {
      const n = 2, rng = new Rng(1);
      const img = Float32Array.from({ length: n * 4096 }, () => rng.float() - 0.5);
      const lab = Int32Array.from({ length: n * 4096 }, (_, i) => (i % 16 > 9 ? 2 : i % 16 > 4 ? 1 : 0));
      const x = E.tensor(img, [n, 16, 16, 16, 1]), y = E.tensor(lab, [n, 16, 16, 16]);
      const total = trainingLoss(net, x, y, { loss: 'dice_ce' }, lab).item();
      const [full, half] = net.forwardDeep(x);
      const l0 = E.diceLoss(full, y, { ceWeight: 1 }).loss.item();
      const l1 = E.diceLoss(half, E.tensor(subsampleLabels(lab, n, [16, 16, 16], 2), [n, 8, 8, 8]), { ceWeight: 1 }).loss.item();
      expect(total).toBeCloseTo((2 / 3) * l0 + (1 / 3) * l1, 4);
      const head = [...net.parameters.entries()].find(([k, t]) => t.shape[0] === 1 && k.endsWith('kernel'))!;
      E.backward(trainingLoss(net, x, y, { loss: 'dice' }, lab));
      expect(head[1].grad).toBeDefined();
      const g = head[1].grad!.toArray() as Float32Array;
      expect(g.some((v) => v !== 0)).toBe(true);
    } finally {
      net.dispose();
    }
  });
});

describe('full-resolution data and geometry (real cases)', () => {
  itData('the full-resolution loader cuts patches of the input shape from the z-scored volume, padded where it is smaller', async () => {
    const cases = ['001', '003'].map((n) => ({ id: n, image: real(n), label: real(n, 'label') }));
    const patch: Shape3 = [40, 56, 40]; // larger than every axis of these volumes
    const make = () => new Loader({ cases, batchSize: 2, mode: 'train', inputShape: patch, fullResolution: true, foregroundOversample: 1, seed: 4, workers: 0 });
    const a = make(), b = make();
    try {
      const [ba] = await collect(a), [bb] = await collect(b);
      expect(ba.images).toEqual(bb.images);
      expect(ba.shape).toEqual(patch);
      const vox = 40 * 56 * 40;
      expect(ba.images.length).toBe(2 * vox);
      for (let s = 0; s < 2; s++) {
        const c = prepareCase(cases.find((k) => k.id === ba.ids[s])!, patch, { fullResolution: true });
        expect(ba.originalShapes[s]).toEqual(c.originalShape);
        // Every labelled voxel fits, so the patch holds all of the volume's foreground.
        const labs = ba.labels!.subarray(s * vox, (s + 1) * vox);
        expect(labs.reduce((k, v) => k + (v > 0 ? 1 : 0), 0)).toBe(c.label!.reduce((k, v) => k + (v > 0 ? 1 : 0), 0));
        // The image patch is the z-scored full-resolution volume with zero padding: its sum is the volume's (0).
        const sum = ba.images.subarray(s * vox, (s + 1) * vox).reduce((k, v) => k + v, 0);
        expect(Math.abs(sum)).toBeLessThan(1e-2);
      }
      expect(() => new Loader({ cases, batchSize: 1, mode: 'eval', fullResolution: true, workers: 0 })).toThrow(/sliding window/);
    } finally {
      await a.close();
      await b.close();
    }
  });

  itData('a label fed through as a perfect prediction comes back identical, in the input geometry', () => {
    const ref = readNiftiLabels(real('004', 'label'));
    const C = 3;
    // The "model" reads the label value off its input patch and answers it one-hot.
    const perfect = (x: Float32Array) => {
      const p = new Float32Array(x.length * C);
      for (let i = 0; i < x.length; i++) p[i * C + x[i]] = 1;
      return p;
    };
    const image = Float32Array.from(ref.data);
    for (const patch of [[16, 16, 16], [24, 56, 40], [7, 9, 11]] as Shape3[]) {
      const probs = slidingWindow(image, ref.shape, patch, C, perfect, { overlap: 0.5, batchSize: 4 });
      expect(argmaxChannels(probs, C)).toEqual(ref.data);
    }
    const probs = slidingWindow(image, ref.shape, [16, 16, 16], C, perfect, { mirror: true });
    const mask = encodeMask({ header: ref.header, headerBytes: ref.headerBytes, shape: ref.shape }, argmaxChannels(probs, C));
    const back = readNiftiLabels(mask);
    expect(back.shape).toEqual(ref.shape);
    expect(back.data).toEqual(ref.data);
    expect(niftiAffine(back.header)).toEqual(niftiAffine(ref.header));
  });

  itData('the segmenter runs a windowed (full-resolution) model by sliding window and keeps the input shape and header', async () => {
    const net = new VNet({ ...small, resize: 'none' }, { seed: 1 });
    net.training = false;
    const seg = new Segmenter(net, [0, 1, 2].map((value) => ({ value, name: String(value) })), { workers: 0, batchSize: 8, overlap: 0.25 });
    try {
      const img = readNifti(real('004'));
      const [r] = await seg.segmentBatch([real('004')]);
      expect(r.shape).toEqual(img.shape);
      const back = readNiftiLabels(zlib.gunzipSync(r.mask));
      expect(back.shape).toEqual(img.shape);
      expect(niftiAffine(back.header)).toEqual(niftiAffine(img.header));
      // The mask is the argmax of windowedProbs on the z-scored volume, nothing else.
      const p = prepareCase({ id: '004', image: real('004') }, small.inputShape, { fullResolution: true });
      expect(back.data).toEqual(argmaxChannels(windowedProbs(net, p.image, p.originalShape, { overlap: 0.25, batchSize: 8 }), 3));
      // The patch start of a foreground draw keeps the chosen voxel inside (also checked in patches-sliding).
      const lab = readNiftiLabels(real('004', 'label'));
      const s = patchStart(lab.shape, [8, 8, 8], { foreground: true, u: [0, 0, 0], pick: 0.5 }, lab.data);
      const box = new Int32Array(512);
      extractPatch(lab.data, lab.shape, s, [8, 8, 8], box);
      expect(box.some((v) => v > 0)).toBe(true);
    } finally {
      await seg.dispose();
      net.dispose();
    }
  });
});

async function collect(l: Loader) {
  const out = [];
  for await (const b of l.epoch(0)) out.push(b);
  return out;
}
