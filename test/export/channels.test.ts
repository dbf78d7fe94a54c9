/** @jest-environment ./test/export/ort-environment.cjs */
// Several input channels end to end: a two-channel dataset (nnU-Net per-channel files) trains a
// V-Net with two input channels, recorded in config.json; predict writes masks at each input's
// grid (resized and full-resolution models); the ONNX export takes (N, D, H, W, 2) and matches
// the engine on onnxruntime, its metadata naming the channels.
import fs from 'node:fs';
import path from 'node:path';
import { exportOnnx, loadModel, predictProbs } from '../../src/index.js';
import { readNiftiHeader, readNiftiLabels } from '../../src/data/index.js';
import { predictFiles } from '../../src/runner/predict-files.js';
import { Segmenter } from '../../src/infer/segmenter.js';
import { runMode, withDefaults } from '../../src/runner/index.js';
import { tmpDir } from '../cli/helpers.js';
import { writeTwoChannel } from '../data/generated.js';
import { parity, randomVolumes, runOrt, session } from './helpers.js';

const quiet = { log() {}, info() {}, progress() {}, close() {} };
const SMALL = { inputShape: [16, 16, 16] as [number, number, number], downscaleBlocks: [1, 1], upscaleBlocks: [1], batchSize: 2, trainEpochs: 1, baseLr: 1e-2, progress: false, report: false };

let dataDir = '';
beforeAll(() => {
  dataDir = tmpDir('two-e2e');
  writeTwoChannel(dataDir, 'nnunet', { cases: 4, tests: 2 });
});

describe.each([['resized', {}], ['full resolution', { resize: 'none' as const }]])('a two-channel model (%s)', (_name, extra) => {
  it('records its channels, predicts masks on each input grid, and exports (N, D, H, W, 2) to ONNX', async () => {
    const modelDir = path.join(tmpDir('two-model'), 'm');
    const outputDir = path.join(tmpDir('two-pred'), 'p');
    await runMode('train_and_predict', withDefaults({ dataDir, modelDir, outputDir, ...SMALL, ...extra }), { logger: quiet });
    const cfg = JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
    expect(cfg.model.inChannels).toBe(2);
    expect(cfg.model.intensity).toBeUndefined(); // both channels z-scored per volume (MRI)
    const masks = fs.readdirSync(outputDir).sort();
    expect(masks).toEqual(['case_004.nii.gz', 'case_005.nii.gz']);
    expect(readNiftiHeader(path.join(outputDir, masks[0])).shape).toEqual([20, 24, 16]);
    // predict -i on the same per-channel files (case_004_0000, case_004_0001, ...): one case each, the same masks.
    const own = path.join(tmpDir('two-own'), 'out');
    const r = await predictFiles({ input: path.join(dataDir, 'imagesTs'), output: own, model: modelDir, report: false, log: () => undefined });
    expect(r.volumes.map((v) => v.case)).toEqual(['case_004', 'case_005']);
    for (const f of masks) {
      const a = readNiftiLabels(path.join(outputDir, f)).data, b = readNiftiLabels(path.join(own, f)).data;
      expect(a.filter((v, i) => v !== b[i]).length).toBeLessThanOrEqual(a.length / 1000);
    }
    // predict --benchmark feeds the model two-channel batches too.
    const bench = await runMode('predict', withDefaults({ dataDir, modelDir, ...SMALL, benchmark: true, warmupSteps: 1, benchmarkSteps: 1 }), { logger: quiet });
    expect(bench.bench?.throughput).toBeGreaterThan(0);

    const m = await loadModel(modelDir);
    try {
      expect(m.net.inChannels).toBe(2);
      const bytes = exportOnnx(m);
      const s = await session(bytes);
      expect(s.inputNames).toEqual(['image']);
      const n = 2, V = 16 ** 3;
      const x = randomVolumes(n * V * 2, 5);
      const ref = predictProbs(m.net, { images: x, size: n });
      const y = await runOrt(s, x, n, [16, 16, 16], 'ndhwc', 2);
      const p = parity(ref, y.data, 3);
      expect(p.maxAbs).toBeLessThanOrEqual(1e-4);
      // serve's path: an upload of one 4-D file with a volume per channel; another count is refused by name.
      const msd = tmpDir('two-msd');
      writeTwoChannel(msd, 'msd', { cases: 1, tests: 1 });
      const seg = new Segmenter(m.net, m.config.labels, { only3d: true, workers: 0 });
      try {
        const r = await seg.segment(fs.readFileSync(path.join(msd, 'imagesTs', 'case_001.nii')), { name: 'upload.nii' });
        expect(r.shape).toEqual([20, 24, 16]);
        await expect(seg.segment(fs.readFileSync(path.join(dataDir, 'imagesTs', 'case_004_0000.nii')), { name: 'one.nii' })).rejects.toThrow(/VNET_E_CHANNEL_COUNT one\.nii/);
      } finally {
        await seg.dispose();
      }
      // The input residual tiles the channels: swapping them changes the output (they are not summed or dropped).
      const swapped = Float32Array.from(x, (_, i) => x[i % 2 === 0 ? i + 1 : i - 1]);
      expect(parity(ref, predictProbs(m.net, { images: swapped, size: n }), 3).maxAbs).toBeGreaterThan(1e-3);
    } finally {
      m.net.dispose();
    }
  }, 120_000);
});
