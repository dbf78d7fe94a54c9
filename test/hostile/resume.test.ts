// Kill training at every write (fixtures/kill-at-rename.cjs: SIGKILL just before the n-th atomic
// rename) and continue it with --resume: from every kill point the run finishes, and its final
// weights are byte-identical to those of a run never killed. Also `cv --resume` after a kill in
// the first epoch's window (best written, latest not yet).
import fs from 'node:fs';
import path from 'node:path';
import { TINY, cli, dataset, requireBuilt, tmp } from './helpers.js';

/** The child's environment that kills it just before its n-th rename (a test-only preload). */
const killAt = (n: number) => ({ ...PINNED, NODE_OPTIONS: `--require ${path.resolve('test/hostile/fixtures/kill-at-rename.cjs')}`, KILL_AT_RENAME: String(n) });
/**
 * One convolution algorithm for every process: VNET_CONV_ALGO=auto times direct against Winograd
 * in each process and may pick differently (both correct, rounding apart), which would break the
 * bit-identity this test checks for reasons that have nothing to do with resuming.
 */
const PINNED = { VNET_CONV_ALGO: 'direct' };

requireBuilt();

const RUN = ['--train_epochs', '2', '--train_split', '0.75', '--eval_every', '1', '--seed', '5'];
/** The weights of a safetensors file without its metadata (timings may differ between runs). */
const weights = (f: string) => {
  const b = fs.readFileSync(f);
  return b.subarray(8 + Number(b.readBigUInt64LE(0))).toString('base64');
};

test('train killed at every write resumes to the weights of an uninterrupted run', () => {
  const data = dataset();
  const ref = path.join(tmp('resume'), 'ref');
  expect(cli(['train', '--data_dir', data, '--model_dir', ref, ...TINY, ...RUN], { env: PINNED, timeoutMs: 60_000 }).exit).toBe(0);
  const want = weights(path.join(ref, 'final.safetensors'));
  let killedAt = 0;
  for (let n = 1; n <= 20; n++) {
    const m = path.join(tmp('resume'), `k${n}`);
    const first = cli(['train', '--data_dir', data, '--model_dir', m, ...TINY, ...RUN], { env: killAt(n), timeoutMs: 60_000 });
    if (first.signal === null) { expect(first.exit).toBe(0); break; } // fewer than n writes: every point was tried
    expect(first.signal).toBe('SIGKILL');
    killedAt = n;
    const again = cli(['train', '--data_dir', data, '--model_dir', m, ...TINY, ...RUN, '--resume'], { env: PINNED, timeoutMs: 60_000 });
    expect({ n, exit: again.exit, err: again.stderr.slice(-400) }).toEqual({ n, exit: 0, err: expect.any(String) });
    expect({ n, same: weights(path.join(m, 'final.safetensors')) === want }).toEqual({ n, same: true });
  }
  // config, split, best and latest of two epochs, final: every one of them was a kill point.
  expect(killedAt).toBeGreaterThanOrEqual(6);
}, 600_000);

test('cv --resume continues a fold killed between its first best and latest', () => {
  const data = dataset();
  const m = path.join(tmp('resume'), 'cv');
  // Writes of fold 0: config (1), split (2), best (3): killed before latest.
  const first = cli(['cv', '--data_dir', data, '--model_dir', m, ...TINY, '--train_epochs', '1', '--folds', '2', '--eval_every', '1'], { env: killAt(4), timeoutMs: 60_000 });
  expect(first.signal).toBe('SIGKILL');
  expect(fs.existsSync(path.join(m, 'fold_0', 'best.safetensors'))).toBe(true);
  expect(fs.existsSync(path.join(m, 'fold_0', 'latest.safetensors'))).toBe(false);
  const again = cli(['cv', '--data_dir', data, '--model_dir', m, ...TINY, '--train_epochs', '1', '--folds', '2', '--eval_every', '1', '--resume'], { timeoutMs: 120_000 });
  expect({ exit: again.exit, err: again.stderr.slice(-600) }).toEqual({ exit: 0, err: expect.any(String) });
  expect(fs.existsSync(path.join(m, 'summary.json'))).toBe(true);
}, 300_000);

test('final is latest\'s file, not a second copy, and --checkpoint best is what predict and evaluate load', () => {
  const data = dataset();
  const m = path.join(tmp('resume'), 'disk');
  expect(cli(['train_and_evaluate', '--data_dir', data, '--model_dir', m, ...TINY, ...RUN], { timeoutMs: 60_000 }).exit).toBe(0);
  const [fin, lat, best] = ['final', 'latest', 'best'].map((n) => fs.statSync(path.join(m, `${n}.safetensors`)));
  expect(fin.ino).toBe(lat.ino);
  expect(best.size).toBeLessThan(lat.size); // no optimizer slots
  const p = cli(['predict', '--data_dir', data, '--model_dir', m, ...TINY, '--checkpoint', 'best', '--output_dir', path.join(m, 'pred-best')]);
  expect(p.exit).toBe(0);
  expect(fs.readdirSync(path.join(m, 'pred-best')).length).toBeGreaterThan(0);
  const e = cli(['evaluate', '--data_dir', data, '--model_dir', m, ...TINY, '--checkpoint', 'best', '--train_split', '0.75']);
  expect([e.exit, e.stderr.slice(-300)]).toEqual([0, expect.any(String)]);
  // A resume to 3 epochs writes a new latest (a new file, by rename) and links final to it.
  const before = fs.readFileSync(path.join(m, 'final.safetensors'));
  expect(cli(['train', '--data_dir', data, '--model_dir', m, ...TINY, ...RUN.map((x) => (x === '2' ? '3' : x)), '--resume'], { timeoutMs: 60_000 }).exit).toBe(0);
  expect(fs.statSync(path.join(m, 'final.safetensors')).ino).toBe(fs.statSync(path.join(m, 'latest.safetensors')).ino);
  expect(fs.readFileSync(path.join(m, 'final.safetensors')).equals(before)).toBe(false);
}, 300_000);
