/** @jest-environment ./test/export/ort-environment.cjs */
// ONNX export checked against onnxruntime: briefly trained models (real Hippocampus cases),
// onnxruntime's output against the engine's forward pass on real cases (preprocessed as predict
// does) and random inputs, at batch 1 and 4; the variants (no batch norm, 5³ kernels, a
// non-cubic input, NCDHW, logits, fixed batch, opsets) and the metadata.
import fs from 'node:fs';
import path from 'node:path';
import { exportOnnx, loadModel, predictProbs, noGrad, tidy, tensor, data, type LoadedModel } from '../../src/index.js';
import { decodeModel, reencode } from './decode.js';
import { realSubset } from '../cli/helpers.js';
import { parity, randomVolumes, runOrt, session, toNdhwc, trainTiny } from './helpers.js';

const figures: string[] = [];
let cases: data.CaseRef[] = [];
let dataDir = '';
const models = new Map<string, LoadedModel>();

beforeAll(async () => {
  dataDir = realSubset(4, 4);
  const ds = data.loadDataset(dataDir);
  cases = ds.test;
  const variants: [string, Parameters<typeof trainTiny>[2]][] = [
    ['bn', {}],
    ['none', { normalizationLayer: 'none' }],
    ['k5', { convolutionSize: 5 }],
    ['in', { normalizationLayer: 'instancenorm' }],
    ['noncubic', { inputShape: [16, 24, 16], downscaleBlocks: [1, 1, 1], upscaleBlocks: [1, 1] }],
  ];
  for (const [name, o] of variants) models.set(name, await loadModel(await trainTiny(dataDir, name, o)));
}, 300_000);

afterAll(() => {
  for (const m of models.values()) m.net.dispose();
  process.stdout.write(`ONNX parity (onnxruntime vs engine, fp32):\n${figures.join('\n')}\n`);
});

/** n inputs of the model's shape: real test cases preprocessed as predict does, or random. */
function inputs(m: LoadedModel, n: number, kind: 'real' | 'random'): Float32Array {
  const shape = m.net.config.inputShape, V = shape[0] * shape[1] * shape[2];
  if (kind === 'random') return randomVolumes(n * V, 7 + n);
  const x = new Float32Array(n * V);
  for (let i = 0; i < n; i++) x.set(data.prepareCase(cases[i % cases.length], shape).image, i * V);
  return x;
}

async function checkProbs(name: string, opts: Parameters<typeof exportOnnx>[1] = {}, batches = [1, 4]): Promise<void> {
  const m = models.get(name)!;
  const s = await session(exportOnnx(m, opts));
  const C = m.net.config.nClasses, layout = opts.layout ?? 'ndhwc';
  for (const n of batches)
    for (const kind of ['real', 'random'] as const) {
      const x = inputs(m, n, kind);
      const ref = predictProbs(m.net, { images: x, size: n });
      const y = await runOrt(s, x, n, m.net.config.inputShape, layout);
      const p = parity(ref, layout === 'ncdhw' ? toNdhwc(y.data, n, C) : y.data, C);
      figures.push(`  ${name.padEnd(8)} ${JSON.stringify(opts).padEnd(40)} batch ${n} ${kind.padEnd(6)} max|Δp| ${p.maxAbs.toExponential(2)}  argmax ${(100 * p.argmax).toFixed(4)} %`);
      expect(p.maxAbs).toBeLessThanOrEqual(1e-4);
      expect(p.argmax).toBeGreaterThanOrEqual(0.9999);
    }
}

test('the trained batch-norm model: probabilities match the engine at batch 1 and 4 (real and random inputs)', async () => {
  // The short training with momentum 0.5 moved the moving statistics well away from (0, 1).
  const bufs = [...models.get('bn')!.net.store.buffers];
  const far = (suffix: string, from: number) => Math.max(...bufs.filter(([n]) => n.endsWith(suffix)).flatMap(([, t]) => Array.from(t.toArray(), (v) => Math.abs(v - from))));
  expect(far('moving_mean', 0)).toBeGreaterThan(0.05);
  expect(far('moving_variance', 1)).toBeGreaterThan(0.05);
  await checkProbs('bn');
});

test('batch norm as BatchNormalization nodes matches too', async () => {
  await checkProbs('bn', { batchNorm: 'nodes' }, [4]);
});

test('--normalization_layer none, 5³ kernels and a non-cubic 16x24x16 input match', async () => {
  await checkProbs('none');
  await checkProbs('k5');
  await checkProbs('noncubic');
});

test('--normalization_layer instancenorm exports InstanceNormalization nodes that match the engine', async () => {
  const m = models.get('in')!;
  const gammas = [...m.net.parameters].filter(([n]) => n.includes('instance_normalization') && n.endsWith('/gamma'));
  expect(Math.max(...gammas.flatMap(([, t]) => Array.from(t.toArray(), (v) => Math.abs(v - 1))))).toBeGreaterThan(1e-4);
  const bytes = exportOnnx(m);
  expect(Buffer.from(bytes).includes('InstanceNormalization')).toBe(true);
  expect(Buffer.from(bytes).includes('BatchNormalization')).toBe(false);
  // Per-sample statistics: at batch 4 each sample is normalised on its own in both.
  await checkProbs('in');
});

test('NCDHW layout, opsets 13 and 21 match', async () => {
  await checkProbs('noncubic', { layout: 'ncdhw' }, [4]);
  await checkProbs('bn', { opset: 13 }, [1]);
  await checkProbs('bn', { opset: 21, layout: 'ncdhw' }, [1]);
});

test('logits output equals the engine forward pass (before softmax)', async () => {
  const m = models.get('noncubic')!;
  const s = await session(exportOnnx(m, { output: 'logits' }));
  const x = inputs(m, 4, 'real');
  const ref = noGrad(() => tidy(() => m.net.forward(tensor(x, [4, ...m.net.config.inputShape, 1])).toArray() as Float32Array));
  const y = await runOrt(s, x, 4, m.net.config.inputShape);
  expect(s.outputNames).toEqual(['logits']);
  const p = parity(ref, y.data, m.net.config.nClasses);
  figures.push(`  noncubic {"output":"logits"} batch 4 real   max|Δlogit| ${p.maxAbs.toExponential(2)}  argmax ${(100 * p.argmax).toFixed(4)} %`);
  expect(p.maxAbs).toBeLessThanOrEqual(1e-4);
  expect(p.argmax).toBeGreaterThanOrEqual(0.9999);
});

test('a fixed batch is fixed in the graph and enforced by onnxruntime; dynamic accepts any', async () => {
  const m = models.get('bn')!;
  const fixed = decodeModel(exportOnnx(m, { batch: 2 }));
  const dims = (g: typeof fixed, io: 'input' | 'output') => g.graph![io]![0].type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
  expect(dims(fixed, 'input')).toEqual([2, 16, 16, 16, 1]);
  expect(dims(fixed, 'output')).toEqual([2, 16, 16, 16, 3]);
  const dyn = decodeModel(exportOnnx(m, { layout: 'ncdhw' }));
  expect(dims(dyn, 'input')).toEqual(['batch', 1, 16, 16, 16]);
  expect(dims(dyn, 'output')).toEqual(['batch', 3, 16, 16, 16]);
  const s = await session(exportOnnx(m, { batch: 2 }));
  await expect(runOrt(s, inputs(m, 1, 'random'), 1, [16, 16, 16])).rejects.toThrow(/dimension|shape|Got: 1/i);
  const two = await runOrt(s, inputs(m, 2, 'random'), 2, [16, 16, 16]);
  expect(two.dims).toEqual([2, 16, 16, 16, 3]);
});

test('metadata says how to feed the model; the file is written atomically', () => {
  const m = models.get('noncubic')!;
  const file = path.join(path.dirname(m.file), 'exported', 'model.onnx');
  const bytes = exportOnnx(m, { file });
  expect(Buffer.compare(fs.readFileSync(file), bytes)).toBe(0);
  expect(fs.readdirSync(path.dirname(file))).toEqual(['model.onnx']); // no temporary left
  const model = decodeModel(bytes);
  // The project's own protobuf writer gives exactly protobufjs' bytes for the same messages.
  expect(Buffer.compare(Buffer.from(reencode(model)), Buffer.from(bytes))).toBe(0);
  const meta = Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value]));
  expect(JSON.parse(meta.labels)).toEqual({ 0: 'background', 1: 'Anterior', 2: 'Posterior' });
  expect(JSON.parse(meta.input_shape)).toEqual(['batch', 16, 24, 16, 1]);
  expect(JSON.parse(meta.preprocessing)).toEqual({ resize: 'linear', input_shape: [16, 24, 16], normalization: 'zscore_per_volume' });
  expect(meta.normalization).toMatch(/z-score per volume/);
  expect(meta.opset).toBe('17');
  expect(meta.vnet_native_version).toMatch(/^\d+\.\d+\.\d+/);
  expect(Number(model.opsetImport[0].version)).toBe(17);
  expect(model.graph!.input![0].name).toBe('image');
  expect(model.graph!.output![0].name).toBe('probabilities');
  // A model trained at native resolution says it is run by sliding window.
  const nativeModel = { net: m.net, config: { ...m.config, model: { ...m.config.model, resize: 'none' } as typeof m.config.model } };
  const nmeta = Object.fromEntries(decodeModel(exportOnnx(nativeModel)).metadataProps.map((p) => [p.key, p.value]));
  expect(JSON.parse(nmeta.preprocessing)).toEqual({ resize: 'none', window: [16, 24, 16], inference: 'sliding_window', normalization: 'zscore_per_volume' });
  expect(nmeta.resize).toMatch(/^none: .*slide 16x24x16 windows/);
  // Folded batch norm: no BatchNormalization node left; kept: one per normalised unit.
  const ops = (b: Uint8Array) => decodeModel(b).graph!.node!.map((n) => n.opType);
  expect(ops(bytes)).not.toContain('BatchNormalization');
  const bnNodes = ops(exportOnnx(models.get('bn')!, { batchNorm: 'nodes' })).filter((o) => o === 'BatchNormalization').length;
  expect(bnNodes).toBe(models.get('bn')!.net.layers.length - 1);
});

test('unsupported options are refused, naming the flag, and nothing is written', () => {
  const m = models.get('bn')!;
  const file = path.join(path.dirname(m.file), 'keep.onnx');
  fs.writeFileSync(file, 'previous');
  for (const [o, re] of [[{ opset: 12 }, /--opset 12: unsupported.*13 to 21/], [{ opset: 99 }, /--opset 99/], [{ batch: 0 }, /--batch 0/], [{ layout: 'nchw' }, /--layout nchw/]] as const)
    expect(() => exportOnnx(m, { ...(o as object), file })).toThrow(re);
  expect(fs.readFileSync(file, 'utf8')).toBe('previous');
});
