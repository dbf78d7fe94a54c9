// Data parallel on CPU ranks (the same code as GPU ranks, over the TCP communicator): N ranks at
// batch b train exactly like one process at batch N·b; shards cover every sample once; only
// rank 0 writes; a failing rank ends the job; --gpus without GPUs is refused up front.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Loader, loadDataset } from '../../src/data/index.js';
import { shardOf } from '../../src/train/ranks.js';
import { readSafetensors } from '../../src/infer/safetensors.js';
import { ROOT, SMALL_NET, realSubset, requireBuilt, runCli, tmpDir } from './helpers.js';

requireBuilt();
const data = realSubset(8, 0);
const common = ['--data_dir', data, ...SMALL_NET, '--normalization_layer', 'none', '--train_epochs', '2', '--seed', '3'];

test('2 CPU ranks at batch 1 give the weights of one process at batch 2', () => {
  const root = tmpDir('dp');
  const log = path.join(root, 'log.json');
  const one = runCli(['train', ...common, '--model_dir', path.join(root, 'one'), '--batch_size', '2']);
  expect(one.code).toBe(0);
  const two = runCli(['train', ...common, '--model_dir', path.join(root, 'two'), '--batch_size', '1', '--device', 'cpu', '--gpus', '2', '--log_dir', log]);
  expect(two.stderr).toMatch(/x 2 ranks/);
  expect(two.code).toBe(0);
  const a = readSafetensors(path.join(root, 'one', 'final.safetensors')).tensors;
  const b = readSafetensors(path.join(root, 'two', 'final.safetensors')).tensors;
  let worst = 0;
  for (const [k, t] of a) {
    const u = b.get(k)!;
    for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(t.data[i] - u.data[i]));
  }
  // Float sums in a different order: differences at the level of fp32 rounding only.
  expect(worst).toBeLessThan(1e-5);
  // Only rank 0 logs: one line per flag, the loss lines once.
  expect(two.stderr.match(/training on cpu/g)).toHaveLength(1);
  const recs = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l.slice(5)));
  expect(recs.filter((r) => r.step === 'PARAMETER' && 'batch_size' in r.data)).toHaveLength(1);
});

test('shards cover every training sample exactly once per epoch', async () => {
  const ds = loadDataset(data);
  const world = 3, perRank = 2;
  const loader = new Loader({ cases: ds.training.slice(0, 6), batchSize: world * perRank, mode: 'train', inputShape: [8, 8, 8], workers: 0, seed: 1 });
  for (let epoch = 0; epoch < 2; epoch++) {
    const seen: string[] = [];
    for await (const b of loader.epoch(epoch)) for (let r = 0; r < world; r++) seen.push(...shardOf(b, r, perRank, 512).ids!);
    expect([...seen].sort()).toEqual(ds.training.slice(0, 6).map((c) => c.id).sort());
  }
  await loader.close();
});

test('a rank that fails ends the whole job with its error, and no rank is left running', () => {
  const m = path.join(tmpDir('dp'), 'f');
  // A test-only preload makes rank 1 fail at start (nothing of it is in the package).
  const preload = pathToFileURL(path.join(ROOT, 'test', 'cli', 'fixtures', 'fail-rank.mjs')).href;
  const env = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${preload}`, FAIL_RANK: '1' };
  const r = runCli(['train', ...common, '--model_dir', m, '--batch_size', '1', '--device', 'cpu', '--gpus', '2', '--train_epochs', '50'], { env });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/rank 1: injected fault/);
  expect(r.stderr).toMatch(/rank 1 exited with code 1; stopping the other ranks/);
  expect(fs.existsSync(path.join(m, 'final.safetensors'))).toBe(false);
  const left = spawnSync('pgrep', ['-f', m], { encoding: 'utf8' });
  expect(left.stdout.trim()).toBe('');
});

test('--gpus 2 without GPUs (or NCCL) is a clear error before anything starts', () => {
  const m = path.join(tmpDir('dp'), 'g');
  const r = runCli(['train', '--data_dir', data, '--model_dir', m, '--batch_size', '1', '--gpus', '2']);
  if (r.code === 0) return; // a machine with two GPUs and NCCL
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/--gpus 2/);
  expect(fs.existsSync(m)).toBe(false);
});

test('train --benchmark with 2 CPU ranks ends cleanly: rank 0 flushes the last all-reduce before it closes', () => {
  const root = tmpDir('dpbench');
  // The full-size network: its 14 MB gradient frames are what a hasty close used to cut off.
  const r = runCli(['train', '--data_dir', data, '--model_dir', path.join(root, 'b'), '--batch_size', '1', '--device', 'cpu', '--gpus', '2',
    '--threads', '1', '--benchmark', '--warmup_steps', '1', '--benchmark_steps', '3', '--progress', 'false']);
  expect(r.stderr).not.toMatch(/connection closed/);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/train \(2 ranks, global batch\) benchmark, batch 2, 3 timed steps/);
});
