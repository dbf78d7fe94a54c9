// Hostile paths and special files: outputs aimed at the inputs (directly or through a link),
// folders under /proc, inputs that are /dev/zero or a FIFO, a --log_dir link, and the demo's
// rotation of folders it did not make.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CASE_LIMIT_MS, TINY, cli, dataset, expectIntact, expectRefused, fingerprint, lib, requireBuilt, storedModel, tmp } from './helpers.js';

requireBuilt();

test('predict --output_dir <data>/imagesTs is refused and the images stay as they were', () => {
  const data = dataset();
  const m = path.join(tmp('paths'), 'model');
  storedModel(m);
  const link = path.join(tmp('paths'), 'looks-harmless');
  fs.symlinkSync(path.join(data, 'imagesTs'), link);
  const before = fingerprint(data, m);
  for (const out of [path.join(data, 'imagesTs'), link]) {
    const o = cli(['predict', '--data_dir', data, '--model_dir', m, ...TINY, '--output_dir', out]);
    expectRefused(o, { exit: 1, code: 'VNET_E_UNSAFE_OUTPUT', names: ['--output_dir', out] });
  }
  expectIntact(before);
}, CASE_LIMIT_MS);

test('model and output folders under /proc are refused at once (a recursive mkdir there never returns)', () => {
  const data = dataset();
  const before = fingerprint(data);
  expectRefused(cli(['train', '--data_dir', data, '--model_dir', '/proc/vnet-hostile/model', ...TINY]), { exit: 1, code: 'VNET_E_UNSAFE_OUTPUT', names: ['--model_dir', '/proc'], maxMs: 10_000 });
  expectRefused(cli(['predict', '--data_dir', data, '--model_dir', tmp('m'), ...TINY, '--output_dir', '/proc/self/vnet-out']), { exit: 1, code: 'VNET_E_UNSAFE_OUTPUT', names: ['--output_dir'], maxMs: 10_000 });
  const o = lib(`const { makeDirs } = await import(D + '/data/index.js'); makeDirs('/proc/vnet-hostile/a/b');`, { timeoutMs: 10_000 });
  expectRefused(o, { exit: 0, code: 'VNET_E_UNSAFE_OUTPUT', names: ['/proc/vnet-hostile'], maxMs: 5000 });
  expectIntact(before);
}, CASE_LIMIT_MS);

function firstImage(dir: string): string {
  const j = JSON.parse(fs.readFileSync(path.join(dir, 'dataset.json'), 'utf8')) as { training: { image: string }[] };
  return path.resolve(dir, j.training[0].image);
}

test('an input that is /dev/zero is refused at once in bounded memory', () => {
  const data = dataset();
  const img = firstImage(data);
  fs.rmSync(img);
  fs.symlinkSync('/dev/zero', img);
  const before = fingerprint(data);
  expectRefused(cli(['validate', '--data_dir', data]), { exit: 1, code: 'VNET_E_NOT_A_FILE', names: [img, 'a device'], maxMs: 10_000, maxRssMb: 250 });
  expectIntact(before);
}, CASE_LIMIT_MS);

test('a dataset.json or an image that is a FIFO does not hang', () => {
  const data = dataset();
  const img = firstImage(data);
  fs.rmSync(img);
  execFileSync('mkfifo', [img]);
  expectRefused(cli(['validate', '--data_dir', data], { timeoutMs: 20_000 }), { exit: 1, code: 'VNET_E_NOT_A_FILE', names: [img, 'a FIFO'], maxMs: 10_000 });
  const dir = tmp('fifo');
  execFileSync('mkfifo', [path.join(dir, 'dataset.json')]);
  expectRefused(cli(['validate', '--data_dir', dir], { timeoutMs: 20_000 }), { exit: 1, code: 'VNET_E_NOT_A_FILE', names: [path.join(dir, 'dataset.json')], maxMs: 10_000 });
}, CASE_LIMIT_MS);

test('--log_dir that is a link is refused; the file it points at is untouched', () => {
  const data = dataset();
  const victim = path.join(tmp('victim'), 'notes.txt');
  fs.writeFileSync(victim, 'precious\n');
  const logs = tmp('logs');
  fs.symlinkSync(victim, path.join(logs, 'run.log'));
  const before = fingerprint(data, victim, logs);
  const o = cli(['train', '--data_dir', data, '--model_dir', path.join(tmp('m'), 'm'), ...TINY, '--log_dir', path.join(logs, 'run.log')]);
  expectRefused(o, { exit: 1, code: 'VNET_E_UNSAFE_OUTPUT', names: ['--log_dir', 'symbolic link'] });
  expectIntact(before);
}, CASE_LIMIT_MS);

test('demo never moves or deletes run / run.prev folders it did not make', () => {
  const x = tmp('demo');
  fs.mkdirSync(path.join(x, 'run.prev'));
  fs.writeFileSync(path.join(x, 'run.prev', 'thesis.tex'), 'years of work\n');
  fs.mkdirSync(path.join(x, 'run'));
  fs.writeFileSync(path.join(x, 'run', 'notes.txt'), 'mine\n');
  const before = fingerprint(x);
  expectRefused(cli(['demo', '--model_dir', x]), { exit: 1, code: 'VNET_E_UNSAFE_OUTPUT', names: [path.join(x, 'run'), 'not made by the demo'] });
  // A demo run in run/, a user's folder in run.prev/: still refused, both intact.
  fs.writeFileSync(path.join(x, 'run', '.vnet-demo-run'), '');
  const before2 = fingerprint(x);
  expectRefused(cli(['demo', '--model_dir', x]), { exit: 1, code: 'VNET_E_UNSAFE_OUTPUT', names: [path.join(x, 'run.prev')] });
  expectIntact(before);
  expectIntact(before2);
}, CASE_LIMIT_MS);
