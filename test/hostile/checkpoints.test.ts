// Hostile checkpoints and config.json: wrong dtypes, non-finite weights, empty or foreign configs,
// configs that disagree with the weights, special files in place of a checkpoint, and --resume
// with another optimizer or loss. Each is refused by name; nothing in the model folder changes.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { CASE_LIMIT_MS, TINY, cli, dataset, expectIntact, expectRefused, fingerprint, lib, requireBuilt, storedModel, tmp, trainingIds } from './helpers.js';

requireBuilt();

function model(): string {
  const m = path.join(tmp('ckpt'), 'model');
  storedModel(m);
  return m;
}

/** Rewrites `<m>/final.safetensors` with `edit` (JS source over `t`, the first weight tensor). */
function editWeights(m: string, edit: string): void {
  const o = lib(`const S = await import(D + '/infer/safetensors.js');
    const f = ${JSON.stringify(path.join(m, 'final.safetensors'))}; const st = S.readSafetensors(f);
    const [k, t] = [...st.tensors].find(([k]) => !k.startsWith('optimizer/'));
    ${edit}
    S.writeSafetensors(f, st.tensors, st.metadata); return k;`);
  if (typeof o.result.value !== 'string') throw new Error(JSON.stringify(o.result));
}

const load = (m: string) => lib(`const R = await import(D + '/runner/index.js'); const r = await R.loadModel(${JSON.stringify(m)}); r.net.dispose(); return r.file;`);

test('a weight stored as I32 is refused by name (F16 is widened, I32 is no weight type)', () => {
  const m = model();
  editWeights(m, `st.tensors.set(k, { dtype: 'I32', shape: t.shape, data: new Int32Array(t.data.length) });`);
  const before = fingerprint(m);
  expectRefused(load(m), { exit: 0, code: 'VNET_E_CHECKPOINT', names: ['final.safetensors', 'I32'] });
  expectIntact(before);
}, CASE_LIMIT_MS);

test('an F16 weight holding a NaN is refused once widened', () => {
  const m = model();
  editWeights(m, `const h = new Uint16Array(t.data.length); h[2] = 0x7e00; st.tensors.set(k, { dtype: 'F16', shape: t.shape, data: h });`);
  expectRefused(load(m), { exit: 0, code: 'VNET_E_CHECKPOINT', names: ['final.safetensors', 'non-finite'] });
}, CASE_LIMIT_MS);

test('a NaN weight is refused (it would predict all-background masks)', () => {
  const m = model();
  editWeights(m, `t.data[3] = NaN;`);
  expectRefused(load(m), { exit: 0, code: 'VNET_E_CHECKPOINT', names: ['final.safetensors', 'non-finite'] });
}, CASE_LIMIT_MS);

test('a malformed training state in the checkpoint metadata is refused (it drives the resumed loop)', () => {
  const m = model();
  editWeights(m, `st.metadata.state = JSON.stringify({ ...JSON.parse(st.metadata.state), epoch: -5, step: 'many' });`);
  expectRefused(load(m), { exit: 0, code: 'VNET_E_CHECKPOINT', names: ['final.safetensors', 'training state'] });
}, CASE_LIMIT_MS);

test('an empty config.json, and one of another version, are refused by name', () => {
  const m = model();
  const cfg = path.join(m, 'config.json');
  const good = fs.readFileSync(cfg, 'utf8');
  fs.writeFileSync(cfg, '');
  expectRefused(load(m), { exit: 0, code: 'VNET_E_CHECKPOINT', names: [cfg, 'empty'] });
  fs.writeFileSync(cfg, JSON.stringify({ ...JSON.parse(good), version: 2 }));
  expectRefused(load(m), { exit: 0, code: 'VNET_E_CHECKPOINT', names: [cfg, 'version 2'] });
  fs.writeFileSync(cfg, JSON.stringify({ ...JSON.parse(good), model: { ...JSON.parse(good).model, baseFilters: 1e9 } }));
  expectRefused(load(m), { exit: 0, code: 'VNET_E_CHECKPOINT', names: [cfg, 'baseFilters'], maxRssMb: 300 });
}, CASE_LIMIT_MS);

test('a config.json that disagrees with the weights is refused (fewer classes; no batch norm)', () => {
  const m = model();
  const cfg = path.join(m, 'config.json');
  const good = JSON.parse(fs.readFileSync(cfg, 'utf8'));
  fs.writeFileSync(cfg, JSON.stringify({ ...good, model: { ...good.model, nClasses: 2 }, labels: good.labels.slice(0, 2) }));
  expectRefused(load(m), { exit: 0, code: 'VNET_E_CONFIG_MISMATCH', names: ['final.safetensors', 'config.json disagrees'] });
  fs.writeFileSync(cfg, JSON.stringify({ ...good, model: { ...good.model, normalization: 'none' } }));
  expectRefused(load(m), { exit: 0, code: 'VNET_E_CONFIG_MISMATCH', names: ['final.safetensors', 'tensors the model does not have'] });
}, CASE_LIMIT_MS);

test('a checkpoint that is /dev/zero or a FIFO is refused at once, in bounded memory', () => {
  for (const kind of ['devzero', 'fifo']) {
    const m = model();
    const f = path.join(m, 'final.safetensors');
    fs.rmSync(f);
    if (kind === 'devzero') fs.symlinkSync('/dev/zero', f);
    else execFileSync('mkfifo', [f]);
    const before = fingerprint(m);
    expectRefused(load(m), { exit: 0, code: 'VNET_E_NOT_A_FILE', names: [f], maxMs: 5000, maxRssMb: 200 });
    expectIntact(before);
  }
}, CASE_LIMIT_MS);

test('--resume with another optimizer or loss is refused instead of starting a fresh optimizer state', () => {
  const data = dataset();
  const ids = trainingIds(data);
  const m = path.join(tmp('ckpt'), 'model');
  storedModel(m, { trainIds: ids.slice(0, 3), evalIds: ids.slice(3), optimizer: 'rmsprop' });
  const before = fingerprint(m, data);
  const base = ['train', '--data_dir', data, '--model_dir', m, ...TINY, '--resume', '--train_epochs', '2'];
  expectRefused(cli([...base, '--optimizer', 'adam']), { exit: 1, code: 'VNET_E_CONFIG_MISMATCH', names: ['--optimizer rmsprop', 'given adam'] });
  expectRefused(cli([...base, '--loss', 'dice_ce']), { exit: 1, code: 'VNET_E_CONFIG_MISMATCH', names: ['--loss dice', 'given dice_ce'] });
  expectIntact(before);
}, CASE_LIMIT_MS);
