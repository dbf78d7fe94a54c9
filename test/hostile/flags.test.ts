// Hostile flags: values that are not numbers, out-of-range thread and node counts, repeated
// flags (the last one wins, presets included), and a --log_dir pointing at a model file or an
// earlier log of a run that is then refused.
import fs from 'node:fs';
import path from 'node:path';
import { buildCli } from '../../src/cli/main.js';
import { toRunOptions } from '../../src/cli/flags.js';
import type { RunOptions } from '../../src/runner/index.js';
import { CASE_LIMIT_MS, TINY, cli, dataset, expectIntact, expectRefused, fingerprint, requireBuilt, storedModel, tmp } from './helpers.js';

requireBuilt();

const base = ['train', '--data_dir', '/nonexistent-data', '--model_dir', '/nonexistent-model'];

test('a numeric flag that is not a number is a usage error naming it', () => {
  for (const [flag, v] of [['--seed', 'abc'], ['--base_lr', 'fast'], ['--input_shape', 'x']]) {
    expectRefused(cli([...base, '--batch_size', '1', flag, v]), { exit: 2, names: [flag] });
  }
}, CASE_LIMIT_MS);

test('--nnodes / --node_rank / --master_port that cannot work are refused at once (no endless wait)', () => {
  expectRefused(cli([...base, '--batch_size', '1', '--device', 'cpu', '--gpus', '2', '--nnodes', '2', '--node_rank', '5', '--master_port', '29999']), { exit: 2, names: ['--node_rank', '0..1'], maxMs: 10_000 });
  expectRefused(cli([...base, '--batch_size', '1', '--master_port', '70000']), { exit: 2, names: ['--master_port'] });
  expectRefused(cli([...base, '--batch_size', '1', '--nnodes', '0']), { exit: 2, names: ['--nnodes'] });
}, CASE_LIMIT_MS);

test('thread counts and input sizes have an upper bound (--threads, VNET_NUM_THREADS, --input_shape)', () => {
  expectRefused(cli([...base, '--batch_size', '1', '--input_shape', '65536', '65536', '65536']), { exit: 1, code: 'VNET_E_BAD_FLAG', names: ['--input_shape', 'at most 1024'] });
  expectRefused(cli([...base, '--batch_size', '1', '--threads', '100000']), { exit: 2, names: ['--threads', '1..256'] });
  expectRefused(cli([...base, '--batch_size', '1'], { env: { VNET_NUM_THREADS: '99999' } }), { exit: 2, names: ['VNET_NUM_THREADS', '1..256'] });
}, CASE_LIMIT_MS);

test('an unknown VNET_CONV_ALGO is refused before anything is written', () => {
  expectRefused(cli([...base, '--batch_size', '1'], { env: { VNET_CONV_ALGO: 'fastest' } }), { exit: 2, names: ["VNET_CONV_ALGO='fastest'", 'auto, direct, winograd'] });
}, CASE_LIMIT_MS);

/** The RunOptions a command line parses to (the command itself is not run). */
async function parsed(argv: string[]): Promise<RunOptions> {
  let got: RunOptions | undefined;
  try {
    await buildCli(argv).middleware((a) => { got = toRunOptions(a, argv); throw new Error('parsed'); }).parseAsync();
  } catch (e) {
    if ((e as Error).message !== 'parsed') throw e;
  }
  return got!;
}

test('a repeated flag: the last one wins, in every spelling, presets included', async () => {
  const a = ['train', '--data_dir', 'd', '--model_dir', 'm'];
  expect((await parsed([...a, '--batch_size', '2', '--batch-size', '4'])).batchSize).toBe(4);
  expect((await parsed([...a, '--batch_size', '2', '--input_shape', '32', '32', '32', '--input-shape', '16', '16', '16'])).inputShape).toEqual([16, 16, 16]);
  expect((await parsed([...a, '--batch_size', '2', '--base_lr=0.1', '--base_lr', '0.2', '--seed', '1', '--seed', '7'])).baseLr).toBe(0.2);
  // Values that once added up or were dropped: 5 then 1 gave 6.
  for (const [x, y] of [[5, 1], [1, 5], [3, 1], [8, 2]]) {
    expect((await parsed([...a, '--batch_size', String(x), '--batch_size', String(y)])).batchSize).toBe(y);
    expect((await parsed([...a, `--batch-size=${x}`, '--seed', '1', '--batch_size', String(y)])).batchSize).toBe(y);
  }
  const q = await parsed([...a, '--batch_size', '1', '--no-augment', '--input_shape', '8', '8', '8', '--augment', '--train_epochs', '1', '--input_shape', '16', '16', '16', '--train_epochs', '1']);
  expect([q.augment, q.inputShape, q.trainEpochs]).toEqual([true, [16, 16, 16], 1]);
  expect((await parsed([...a, '--batch_size', '1', '--augment', '--no-augment'])).augment).toBe(false);
  const p = await parsed([...a, '--preset', 'best', '--preset', 'reference']);
  expect([p.trainEpochs, p.optimizer]).toEqual([80, 'rmsprop']);
}, CASE_LIMIT_MS);

test('--log_dir naming a checkpoint of the model is refused before anything is opened', () => {
  const data = dataset();
  const m = path.join(tmp('flags'), 'model');
  storedModel(m);
  const before = fingerprint(m, data);
  const o = cli(['train', '--data_dir', data, '--model_dir', m, ...TINY, '--log_dir', path.join(m, 'final.safetensors')]);
  expectRefused(o, { exit: 1, code: 'VNET_E_UNSAFE_OUTPUT', names: ['--log_dir', 'final.safetensors'] });
  expectIntact(before);
}, CASE_LIMIT_MS);

test('a refused run leaves an earlier log.json in --log_dir as it was', () => {
  const data = dataset();
  const m = path.join(tmp('flags'), 'model');
  storedModel(m);
  const logs = tmp('logs');
  fs.writeFileSync(path.join(logs, 'log.json'), 'DLLL {"type":"LOG","step":"PARAMETER","data":{"earlier":1}}\n');
  const before = fingerprint(m, data, logs);
  const o = cli(['train', '--data_dir', data, '--model_dir', m, ...TINY, '--log_dir', `${logs}/`]);
  expectRefused(o, { exit: 1, code: 'VNET_E_MODEL_EXISTS', names: [m] });
  expectIntact(before);
}, CASE_LIMIT_MS);

test('messages a new user meets: the command list, each error code once, cv --folds 0, a batch too large for the CPU ranks (said once, exit 2)', () => {
  const none = cli([]);
  expectRefused(none, { exit: 2, names: ['train', 'predict', 'cv', 'serve', 'export', 'vnet-native demo'] });
  const missing = cli(['predict', '--data_dir', '/nonexistent-data', '--model_dir', '/nonexistent-model', '--batch_size', '1']);
  expectRefused(missing, { exit: 1, code: 'VNET_E_NO_DATASET_JSON', names: ['/nonexistent-data'] });
  expect(missing.stderr.split('VNET_E_NO_DATASET_JSON').length - 1).toBe(1);
  const data = dataset();
  const m = path.join(tmp('flags'), 'cv');
  for (const f of ['0', '1']) {
    expectRefused(cli(['cv', '--data_dir', data, '--model_dir', m, ...TINY, '--folds', f]), { exit: 1, code: 'VNET_E_BAD_FLAG', names: ['--folds', `got ${f}`] });
  }
  expect(fs.existsSync(path.join(m, 'summary.json'))).toBe(false);
  const ranks = cli(['train', '--data_dir', data, '--model_dir', path.join(tmp('flags'), 'r'), ...TINY.filter((x, i, a) => x !== '--batch_size' && a[i - 1] !== '--batch_size'), '--batch_size', '3', '--device', 'cpu', '--gpus', '2']);
  expectRefused(ranks, { exit: 2, code: 'VNET_E_BAD_FLAG', names: ['--batch_size 3 x --gpus 2'] });
  expect(ranks.stderr.split('--batch_size 3').length - 1).toBe(1);
}, CASE_LIMIT_MS);

test('--amp on the CPU says that it is slower there', () => {
  const data = dataset();
  const o = cli(['train', '--data_dir', data, '--model_dir', path.join(tmp('flags'), 'amp'), ...TINY, '--train_epochs', '1', '--amp']);
  expect(o.exit).toBe(0);
  expect(o.stdout + o.stderr).toMatch(/warning: --amp on the CPU .*slower than fp32/);
}, CASE_LIMIT_MS);
