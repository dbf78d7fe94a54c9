// The Dice-vs-time curve from one run (--save_at_minutes, evaluate --checkpoint minute_<m>,
// `vnet-native curve`), the nnunet_cpu preset and an exact resume with its levers, end to end through the CLI.
import fs from 'node:fs';
import path from 'node:path';
import { readSafetensors } from '../../src/infer/safetensors.js';
import { SMALL_NET, realSubset, requireBuilt, runCli, snapshot, tmpDir } from './helpers.js';

requireBuilt();
const data = realSubset(6, 1);
const common = ['--data_dir', data, '--batch_size', '2', ...SMALL_NET, '--train_split', '0.67'];
const stateOf = (file: string) => JSON.parse(readSafetensors(file).metadata.state) as { step: number; trainSeconds: number };

describe('Dice against training time', () => {
  const m = path.join(tmpDir('curve'), 'm');

  test('--save_at_minutes keeps minute_<m> checkpoints with their training time and step', () => {
    // 0.0005 min (30 ms) passes within the first step; 1000 min never does.
    const r = runCli(['train', ...common, '--model_dir', m, '--train_epochs', '3', '--save_at_minutes', '0.0005,0.02,1000']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/training ended after [0-9.]+ min, before (0.02, )?1000 min/);
    const first = stateOf(path.join(m, 'minute_0.0005.safetensors'));
    expect(first.trainSeconds).toBeGreaterThanOrEqual(0.03);
    expect(first.step).toBeGreaterThanOrEqual(1);
    const fin = stateOf(path.join(m, 'final.safetensors'));
    expect(fin.trainSeconds).toBeGreaterThanOrEqual(first.trainSeconds);
    expect(fin.step).toBe(6);
    // The second point exists only when training lasted that long, and then records it.
    const second = path.join(m, 'minute_0.02.safetensors');
    if (fin.trainSeconds < 1.2) expect(fs.existsSync(second)).toBe(false);
    if (fs.existsSync(second)) expect(stateOf(second).trainSeconds).toBeGreaterThanOrEqual(1.2);
    expect(fs.existsSync(path.join(m, 'minute_1000.safetensors'))).toBe(false);
    // A resumed run goes on counting from the time its latest checkpoint recorded.
    const again = runCli(['train', ...common, '--model_dir', m, '--train_epochs', '4', '--resume', '--save_at_minutes', '0.0005,0.02,1000']);
    expect(again.code).toBe(0);
    const more = stateOf(path.join(m, 'final.safetensors'));
    expect(more.step).toBe(8);
    expect(more.trainSeconds).toBeGreaterThan(fin.trainSeconds);
    expect(stateOf(path.join(m, 'minute_0.0005.safetensors'))).toEqual(first);
  });

  test('evaluate --checkpoint minute_<m> writes eval/minute_<m> and leaves eval/summary.json alone', () => {
    const r0 = runCli(['evaluate', ...common, '--model_dir', m]);
    expect(r0.code).toBe(0);
    const before = fs.readFileSync(path.join(m, 'eval', 'summary.json'), 'utf8');
    const r = runCli(['evaluate', ...common, '--model_dir', m, '--checkpoint', 'minute_0.0005']);
    expect(r.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(m, 'eval', 'minute_0.0005', 'summary.json'), 'utf8')).foreground_mean.Dice).toBeGreaterThanOrEqual(0);
    expect(fs.readFileSync(path.join(m, 'eval', 'summary.json'), 'utf8')).toBe(before);
  });

  test('curve evaluates every minute checkpoint and final, prints the table and writes curve.json', () => {
    const r = runCli(['curve', ...common, '--model_dir', m]);
    expect(r.code).toBe(0);
    const curve = JSON.parse(fs.readFileSync(path.join(m, 'curve.json'), 'utf8'));
    const names = curve.points.map((p: { checkpoint: string }) => p.checkpoint);
    expect(names[0]).toBe('minute_0.0005');
    expect(names[names.length - 1]).toBe('final');
    expect(curve.points[0]).toMatchObject({ minutes: 0.0005, step: stateOf(path.join(m, 'minute_0.0005.safetensors')).step });
    expect(Object.keys(curve.points[0].dice).length).toBe(2);
    expect(r.stdout).toMatch(/checkpoint\s+train min\s+step\s+Anterior Dice\s+Posterior Dice\s+mean Dice/);
    expect(r.stdout).toMatch(/minute_0\.0005\s+[0-9]+\.[0-9]{2}\s+\d+\s+0\.\d{4}/);
  });

  test('bad values name the flag and touch nothing', () => {
    const before = snapshot(m);
    const a = runCli(['train', ...common, '--model_dir', path.join(tmpDir('curve'), 'x'), '--save_at_minutes', '5,abc']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--save_at_minutes/);
    const b = runCli(['train', ...common, '--model_dir', path.join(tmpDir('curve'), 'y'), '--save_at_minutes', '10,5']);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/--save_at_minutes must be increasing/);
    const c = runCli(['evaluate', ...common, '--model_dir', m, '--checkpoint', '../../etc/passwd']);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/--checkpoint must be/);
    const d = runCli(['curve', ...common, '--model_dir', path.join(tmpDir('curve'), 'empty')]);
    expect(d.code).not.toBe(0);
    expect(d.stderr).toMatch(/no minute_<m>\.safetensors/);
    expect(snapshot(m)).toEqual(before);
  });
});

test('--preset nnunet_cpu trains with every lever (SGD Nesterov, instance norm, nnU-Net augmentation)', () => {
  const m = path.join(tmpDir('nnunet'), 'm');
  const log = path.join(path.dirname(m), 'log.json');
  const r = runCli(['train', '--data_dir', data, '--input_shape', '16', '16', '16', '--downscale_blocks', '1', '1', '1', '--upscale_blocks', '1', '1',
    '--model_dir', m, '--preset', 'nnunet_cpu', '--train_epochs', '1', '--train_split', '0.67', '--amp', '--log_dir', log]);
  expect(r.code).toBe(0);
  const params = Object.assign({}, ...fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l.slice(5))).filter((x) => x.step === 'PARAMETER').map((x) => x.data));
  expect(params).toMatchObject({ optimizer: 'sgd', nesterov: true, momentum: 0.99, weight_decay: 3e-5, base_lr: 1e-2, lr_schedule: 'poly', augment_mode: 'nnunet', normalization_layer: 'instancenorm', resize: 'none' });
  expect(JSON.parse(fs.readFileSync(path.join(m, 'config.json'), 'utf8')).model).toMatchObject({ normalization: 'instancenorm', deepSupervision: true });
  const st = readSafetensors(path.join(m, 'final.safetensors'));
  expect([...st.tensors.keys()].some((k) => k.endsWith('instance_normalization/gamma'))).toBe(true);
  expect([...st.tensors.keys()].some((k) => k.startsWith('optimizer/') && k.endsWith('/momentum'))).toBe(true);
});

test('the nnU-Net levers resume exactly: 1 epoch + --resume 1 epoch gives the weights of 2 epochs straight', () => {
  // One convolution algorithm in every process (auto may time them differently, rounding apart).
  // A constant rate: poly's depends on --train_epochs, which differs between the two halves here.
  const env = { VNET_CONV_ALGO: 'direct' };
  const levers = ['--optimizer', 'sgd', '--nesterov', '--momentum', '0.99', '--weight_decay', '3e-5', '--base_lr', '1e-2',
    '--normalization_layer', 'instancenorm', '--augment', '--augment_mode', 'nnunet', '--seed', '3'];
  const weights = (f: string) => {
    const b = fs.readFileSync(f);
    return b.subarray(8 + Number(b.readBigUInt64LE(0))).toString('base64');
  };
  const straight = path.join(tmpDir('levers'), 'a');
  expect(runCli(['train', ...common, ...levers, '--model_dir', straight, '--train_epochs', '2'], { env }).code).toBe(0);
  const split = path.join(tmpDir('levers'), 'b');
  expect(runCli(['train', ...common, ...levers, '--model_dir', split, '--train_epochs', '1'], { env }).code).toBe(0);
  const r = runCli(['train', ...common, ...levers, '--model_dir', split, '--train_epochs', '2', '--resume'], { env });
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(/resuming/);
  expect(weights(path.join(split, 'final.safetensors')) === weights(path.join(straight, 'final.safetensors'))).toBe(true);
  // Resuming with another SGD rule would silently change the optimisation: refused by name.
  const before = snapshot(split);
  const other = runCli(['train', ...common, ...levers.filter((f) => f !== '--nesterov'), '--model_dir', split, '--train_epochs', '3', '--resume'], { env });
  expect(other.code).toBe(1);
  expect(other.stderr).toMatch(/trained with --optimizer sgd --nesterov --weight_decay 0.00003 \(given sgd --weight_decay 0.00003\)/);
  expect(snapshot(split)).toEqual(before);
});
