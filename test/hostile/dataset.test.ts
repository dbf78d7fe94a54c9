// Hostile dataset.json files: empty, too large, repeated label names, label values training
// cannot use (validate and train must agree), and a saved split naming cases the dataset lacks.
import fs from 'node:fs';
import path from 'node:path';
import { CASE_LIMIT_MS, cli, dataset, expectIntact, expectRefused, fingerprint, lib, requireBuilt, storedModel, tmp, trainingIds } from './helpers.js';

requireBuilt();

const jsonOf = (dir: string) => path.join(dir, 'dataset.json');
const edit = (dir: string, f: (j: Record<string, unknown>) => void) => {
  const j = JSON.parse(fs.readFileSync(jsonOf(dir), 'utf8')) as Record<string, unknown>;
  f(j);
  fs.writeFileSync(jsonOf(dir), JSON.stringify(j));
};

test('an empty dataset.json is a clear error naming it', () => {
  const dir = tmp('ds');
  fs.writeFileSync(jsonOf(dir), '');
  const before = fingerprint(dir);
  expectRefused(cli(['validate', '--data_dir', dir]), { exit: 1, code: 'VNET_E_BAD_JSON', names: [jsonOf(dir), 'empty'] });
  expectIntact(before);
}, CASE_LIMIT_MS);

test('a dataset.json over the JSON size limit is refused without being parsed', () => {
  const dir = tmp('ds');
  fs.writeFileSync(jsonOf(dir), `{"training": []${' '.repeat(1_500_000)}}`);
  const o = lib(`const { validateDataset } = await import(D + '/data/index.js');
    const e = validateDataset(${JSON.stringify(dir)}).errors[0]; throw Object.assign(new Error(e.file + ': ' + e.message), { code: e.code });`, { env: { VNET_MAX_JSON_MB: '1' } });
  expectRefused(o, { exit: 0, code: 'VNET_E_TOO_LARGE', names: [jsonOf(dir), 'VNET_MAX_JSON_MB'], maxMs: 5000 });
}, CASE_LIMIT_MS);

test('two classes with one name are refused (they would mislabel the per-class Dice)', () => {
  const dir = dataset();
  edit(dir, (j) => { j.labels = { 0: 'background', 1: 'Hippocampus', 2: 'Hippocampus' }; });
  const before = fingerprint(dir);
  expectRefused(cli(['validate', '--data_dir', dir]), { exit: 1, code: 'VNET_E_BAD_JSON', names: [jsonOf(dir), '"Hippocampus"'] });
  expectIntact(before);
}, CASE_LIMIT_MS);

test('labels that training refuses are refused by validate too, with the same error', () => {
  const dir = dataset();
  edit(dir, (j) => { j.labels = { 0: 'background', 2: 'Posterior', 5: 'Other' }; });
  const before = fingerprint(dir);
  const v = cli(['validate', '--data_dir', dir, '--no-values']);
  expectRefused(v, { exit: 1, code: 'VNET_E_BAD_JSON', names: [jsonOf(dir), '0..2'] });
  const t = cli(['train', '--data_dir', dir, '--model_dir', path.join(tmp('m'), 'm'), '--batch_size', '1']);
  expectRefused(t, { exit: 1, code: 'VNET_E_BAD_JSON', names: [jsonOf(dir), '0..2'] });
  expectIntact(before);
}, CASE_LIMIT_MS);

test('evaluation refuses a saved split whose cases are missing from the dataset (instead of dropping them)', () => {
  const dir = dataset();
  const model = path.join(tmp('m'), 'model');
  const ids = trainingIds(dir);
  storedModel(model, { trainIds: ids.slice(0, 3), evalIds: [ids[3], 'case_that_is_gone'] });
  const before = fingerprint(dir, model);
  const o = cli(['evaluate', '--data_dir', dir, '--model_dir', model, '--batch_size', '1']);
  expectRefused(o, { exit: 1, code: 'VNET_E_CONFIG_MISMATCH', names: ['split.json', 'case_that_is_gone'] });
  expectIntact(before);
}, CASE_LIMIT_MS);

test('evaluation refuses a dataset whose classes differ from the model (swapped names would swap the Dice columns)', () => {
  const dir = dataset();
  edit(dir, (j) => { j.labels = { 0: 'background', 1: 'Posterior', 2: 'Anterior' }; });
  const model = path.join(tmp('m'), 'model');
  const ids = trainingIds(dir);
  storedModel(model, { trainIds: ids.slice(0, 3), evalIds: ids.slice(3) });
  const before = fingerprint(dir, model);
  const o = cli(['evaluate', '--data_dir', dir, '--model_dir', model, '--batch_size', '1']);
  expectRefused(o, { exit: 1, code: 'VNET_E_CONFIG_MISMATCH', names: [jsonOf(dir), '1=Anterior'] });
  expectIntact(before);
}, CASE_LIMIT_MS);
