/** @jest-environment ./test/export/ort-environment.cjs */
// `vnet-native export` as a user runs it (node on dist/): the default output, the flags, and
// the clear errors of a malformed model dir or a bad flag, with nothing already written lost.
import fs from 'node:fs';
import path from 'node:path';
import { decodeModel } from '../../src/export/graph.js';
import { realSubset, requireBuilt, runCli, tmpDir } from '../cli/helpers.js';
import { session, trainTiny } from './helpers.js';

requireBuilt();
let model = '';

beforeAll(async () => {
  model = await trainTiny(realSubset(4, 0), 'cli', {});
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
