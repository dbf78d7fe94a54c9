/** @jest-environment ./test/export/ort-environment.cjs */
// `vnet-native export` as a user runs it (node on dist/): the default output, the flags, and
// the clear errors of a malformed model dir or a bad flag, with nothing already written lost.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { decodeModel } from './decode.js';
import { loadDataset, readNiftiLabels } from '../../src/data/index.js';
import { ROOT, realSubset, requireBuilt, runCli, tmpDir } from '../cli/helpers.js';
import { session, trainTiny } from './helpers.js';

requireBuilt();
let model = '', dataDir = '';

beforeAll(async () => {
  dataDir = realSubset(4, 1);
  model = await trainTiny(dataDir, 'cli', {});
}, 120_000);

const dims = (file: string, io: 'input' | 'output') =>
  decodeModel(fs.readFileSync(file)).graph![io]![0].type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));

test('export --model_dir M writes M/model.onnx that onnxruntime loads', async () => {
  const r = runCli(['export', '--model_dir', model]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const file = path.join(model, 'model.onnx');
  expect(r.stdout).toContain(`wrote ${file}`);
  const s = await session(fs.readFileSync(file));
  expect(s.inputNames).toEqual(['image']);
  expect(s.outputNames).toEqual(['probabilities']);
  expect(dims(file, 'input')).toEqual(['batch', 16, 16, 16, 1]);
});

test('--output --layout ncdhw --logits --batch 2 --opset 13', () => {
  const file = path.join(tmpDir('onnx-out'), 'sub', 'v.onnx');
  const r = runCli(['export', '--model_dir', model, '--output', file, '--layout', 'ncdhw', '--logits', '--batch', '2', '--opset', '13']);
  expect(r.code).toBe(0);
  const m = decodeModel(fs.readFileSync(file));
  expect(Number(m.opsetImport[0].version)).toBe(13);
  expect(m.graph!.output![0].name).toBe('logits');
  expect(dims(file, 'input')).toEqual([2, 1, 16, 16, 16]);
  expect(dims(file, 'output')).toEqual([2, 3, 16, 16, 16]);
});

test('a malformed model dir is a clear error (exit 1)', () => {
  const empty = tmpDir('onnx-empty');
  let r = runCli(['export', '--model_dir', empty]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`[VNET_E_NO_CHECKPOINT]: no ${path.join(empty, 'config.json')}`);
  fs.copyFileSync(path.join(model, 'config.json'), path.join(empty, 'config.json'));
  r = runCli(['export', '--model_dir', empty]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/VNET_E_NO_CHECKPOINT.*no checkpoint in .*final\.safetensors, latest\.safetensors/);
  fs.writeFileSync(path.join(empty, 'config.json'), '{"version": 1, ');
  r = runCli(['export', '--model_dir', empty]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/VNET_E_CHECKPOINT\].*config\.json.*JSON/);
  expect(fs.existsSync(path.join(empty, 'model.onnx'))).toBe(false);
});

test('bad flags are refused by name and leave an existing output intact', () => {
  const file = path.join(tmpDir('onnx-keep'), 'model.onnx');
  fs.writeFileSync(file, 'previous');
  for (const [flags, code, re] of [
    [['--opset', '12'], 1, /--opset 12: unsupported; the export writes opsets 13 to 21/],
    [['--opset', '22'], 1, /--opset 22: unsupported/],
    [['--batch', 'two'], 1, /--batch two: give 'dynamic' or a positive integer/],
    [['--batch', '0'], 1, /--batch 0/],
    [['--layout', 'nchw'], 2, /layout/],
    [['--probabilities', '--logits'], 2, /mutually exclusive/],
  ] as const) {
    const r = runCli(['export', '--model_dir', model, '--output', file, ...flags]);
    expect([r.code, r.stderr]).toEqual([code, expect.stringMatching(re)]);
  }
  expect(fs.readFileSync(file, 'utf8')).toBe('previous');
  expect(fs.readdirSync(path.dirname(file))).toEqual(['model.onnx']);
});

test("docs/usage.md's onnxruntime-node example segments a volume as predict does", () => {
  expect(runCli(['export', '--model_dir', model]).code).toBe(0);
  const r = runCli(['predict', '--data_dir', dataDir, '--model_dir', model, '--batch_size', '1']);
  expect(r.code).toBe(0);
  const image = loadDataset(dataDir).test[0].image;
  const id = path.basename(image).replace(/\.nii(\.gz)?$/, '');
  const readme = fs.readFileSync(path.join(ROOT, 'docs', 'usage.md'), 'utf8');
  const block = /```js\n(import ort from 'onnxruntime-node';[^`]*)```/.exec(readme)?.[1];
  expect(block).toBeDefined();
  const app = tmpDir('onnx-app');
  fs.mkdirSync(path.join(app, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(app, 'node_modules', 'vnet-native'), 'dir');
  fs.symlinkSync(path.join(ROOT, 'node_modules', 'onnxruntime-node'), path.join(app, 'node_modules', 'onnxruntime-node'), 'dir');
  const out = path.join(app, 'mask.nii.gz');
  const paths: [string, string][] = [['runs/ref/model.onnx', path.join(model, 'model.onnx')], ['hippocampus_002.nii.gz', image], ['hippocampus_002_mask.nii.gz', out]];
  let code = block!;
  for (const [from, to] of paths) {
    expect(code).toContain(`'${from}'`);
    code = code.replace(`'${from}'`, JSON.stringify(to));
  }
  fs.writeFileSync(path.join(app, 'main.mjs'), code);
  const run = spawnSync(process.execPath, ['main.mjs'], { cwd: app, encoding: 'utf8' });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  const ours = readNiftiLabels(out), engine = readNiftiLabels(path.join(model, 'predictions', `${id}.nii.gz`));
  expect(ours.shape).toEqual(engine.shape);
  let same = 0;
  for (let i = 0; i < ours.data.length; i++) if (ours.data[i] === engine.data[i]) same++;
  expect(same / ours.data.length).toBeGreaterThanOrEqual(0.9999);
});
