// Commands that write must not write over their own inputs: `export --output` naming the model's
// weights, its config, a dataset file, a device or a link is refused by the output guard that
// train and predict use; the model still loads and exports afterwards.
import fs from 'node:fs';
import path from 'node:path';
import { CASE_LIMIT_MS, cli, dataset, expectIntact, expectRefused, fingerprint, requireBuilt, storedModel, tmp } from './helpers.js';

requireBuilt();

test('export --output naming the model\'s own files, a dataset file, a device or a link is refused; the model still exports', () => {
  const m = path.join(tmp('export'), 'model');
  storedModel(m);
  const data = dataset();
  const image = path.join(data, 'imagesTr', fs.readdirSync(path.join(data, 'imagesTr'))[0]);
  const link = path.join(tmp('export'), 'out.onnx');
  fs.symlinkSync(path.join(m, 'config.json'), link);
  const own = fs.readdirSync(m, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
  expect(own.length).toBeGreaterThanOrEqual(3);
  const before = fingerprint(m, data);
  for (const out of [...own, image, path.join(data, 'dataset.json'), '/dev/null', link]) {
    const o = cli(['export', '--model_dir', m, '--output', out]);
    expectRefused(o, { exit: 1, code: 'VNET_E_UNSAFE_OUTPUT', names: ['--output', out] });
  }
  expectIntact(before);
  // Its own earlier export may be replaced; the model loads as before.
  for (let i = 0; i < 2; i++) expect(cli(['export', '--model_dir', m]).exit).toBe(0);
  expect(cli(['export', '--model_dir', m, '--output', path.join(tmp('export'), 'elsewhere.onnx')]).exit).toBe(0);
}, CASE_LIMIT_MS);
