// End to end through the CLI on a few real cases: train, checkpoint, resume (also after
// SIGKILL), evaluate, predict, the combined modes, summary, and every kind of bad input.
import fs from 'node:fs';
import path from 'node:path';
import { readNifti, readNiftiHeader } from '../../src/data/index.js';
import { SMALL_NET, realSubset, requireBuilt, runCli, snapshot, startCli, tmpDir } from './helpers.js';

requireBuilt();
const data = realSubset(6, 2);
const common = ['--data_dir', data, '--batch_size', '2', ...SMALL_NET];

describe('CLI modes', () => {
  const model = path.join(tmpDir('model'), 'm');

  test('summary prints the reference\'s parameter count', () => {
    const r = runCli(['summary']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/trainable parameters: 3,599,747/);
    expect(r.stdout).toMatch(/up2\.res1/);
  });

  test('train writes checkpoints, config, split and DLLL logs', () => {
    const log = path.join(path.dirname(model), 'log.json');
    const r = runCli(['train', ...common, '--model_dir', model, '--train_epochs', '1', '--train_split', '0.67', '--log_every', '1', '--log_dir', log]);
    expect(r.stderr).toMatch(/epoch 1/);
    expect(r.code).toBe(0);
    for (const f of ['latest.safetensors', 'final.safetensors', 'config.json', 'split.json']) expect(fs.existsSync(path.join(model, f))).toBe(true);
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
    expect(lines.every((l) => l.startsWith('DLLL {'))).toBe(true);
    const recs = lines.map((l) => JSON.parse(l.slice(5)));
    expect(recs[0].step).toBe('PARAMETER');
    expect(recs.some((x) => Array.isArray(x.step) && x.step.length === 1 && 'total_loss' in x.data)).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(model, 'split.json'), 'utf8')).train).toHaveLength(4);
  });

  test('training again into the same folder without --resume is refused, files intact', () => {
    const before = snapshot(model);
    const r = runCli(['train', ...common, '--model_dir', model, '--train_epochs', '1', '--train_split', '0.67']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already holds a trained model.*--resume/);
    expect(snapshot(model)).toEqual(before);
  });

  test('--resume continues from the latest checkpoint', () => {
    const r = runCli(['train', ...common, '--model_dir', model, '--train_epochs', '2', '--train_split', '0.67', '--resume']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/resuming .* after epoch 1/);
    expect(r.stderr).toMatch(/epoch 2: mean loss/);
    expect(r.stderr).not.toMatch(/epoch 1: mean loss/);
  });

  test('evaluate writes eval/summary.json with hard Dice, HD95 and the soft Dice', () => {
    const r = runCli(['evaluate', ...common, '--model_dir', model]);
    expect(r.code).toBe(0);
    const s = JSON.parse(fs.readFileSync(path.join(model, 'eval', 'summary.json'), 'utf8'));
    expect(s.metric_per_case).toHaveLength(2);
    expect(Object.keys(s.mean)).toEqual(expect.arrayContaining(['1', '2']));
    expect(s.soft_dice_at_input_shape).toHaveProperty('Anterior');
    expect(r.stdout).toMatch(/HD95/);
    // The report for people: results first, the configuration folded at the end, nothing undefined.
    const html = fs.readFileSync(path.join(model, 'report.html'), 'utf8');
    expect(html.indexOf('<h2>Results</h2>')).toBeGreaterThan(0);
    expect(html.indexOf('<h2>Results</h2>')).toBeLessThan(html.indexOf('<details>'));
    expect(html).toMatch(/Anterior<\/td><td>[01]\.\d{4}<\/td>/);
    expect(html).not.toMatch(/undefined|NaN/);
  });

  test('predict writes masks with the input\'s shape and geometry', () => {
    const r = runCli(['predict', ...common, '--model_dir', model]);
    expect(r.code).toBe(0);
    const ds = JSON.parse(fs.readFileSync(path.join(data, 'dataset.json'), 'utf8'));
    for (const img of ds.test as string[]) {
      const id = path.basename(img).replace(/\.nii\.gz$/, '');
      const mask = readNifti(path.join(model, 'predictions', `${id}.nii.gz`));
      const ref = readNiftiHeader(img);
      expect(mask.shape).toEqual(ref.shape);
      expect(mask.header.pixdim.slice(1, 4)).toEqual(ref.header.pixdim.slice(1, 4));
      expect(mask.header.sformCode).toBe(ref.header.sformCode);
      expect(mask.header.srow).toEqual(ref.header.srow);
      expect(Math.max(...mask.data)).toBeLessThanOrEqual(2);
    }
  });

  test('train_and_evaluate and train_and_predict', () => {
    const m2 = path.join(tmpDir('model'), 'm2');
    const r = runCli(['train_and_evaluate', ...common, '--model_dir', m2, '--train_epochs', '1', '--train_split', '0.67']);
    expect(r.code).toBe(0);
    expect(fs.existsSync(path.join(m2, 'eval', 'summary.json'))).toBe(true);
    expect(fs.existsSync(path.join(m2, 'best.safetensors'))).toBe(true);
    const m3 = path.join(tmpDir('model'), 'm3');
    const r3 = runCli(['--exec_mode', 'train_and_predict', ...common, '--model_dir', m3, '--train_epochs', '1']);
    expect(r3.code).toBe(0);
    expect(fs.readdirSync(path.join(m3, 'predictions'))).toHaveLength(2);
  });

  test('--augment_mode flips and --lr_schedule poly train, and the decaying rate is logged', () => {
    const m = path.join(tmpDir('model'), 'poly');
    const log = path.join(path.dirname(m), 'log.json');
    const r = runCli(['train', ...common, '--model_dir', m, '--train_epochs', '2', '--augment', '--augment_mode', 'flips', '--lr_schedule', 'poly', '--base_lr', '1e-3', '--log_every', '1', '--log_dir', log]);
    expect(r.code).toBe(0);
    const recs = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l.slice(5)));
    expect(recs.some((x) => x.step === 'PARAMETER' && x.data.augment_mode === 'flips')).toBe(true);
    const lrs = recs.filter((x) => Array.isArray(x.step) && 'learning_rate' in x.data).map((x) => x.data.learning_rate as number);
    expect(lrs).toHaveLength(6); // 6 cases / batch 2 = 3 steps per epoch, 2 epochs
    expect(lrs[0]).toBeCloseTo(1e-3, 9);
    for (let i = 1; i < lrs.length; i++) expect(lrs[i]).toBeLessThan(lrs[i - 1]);
    expect(lrs[5]).toBeCloseTo(1e-3 * Math.pow(1 / 6, 0.9), 9);
    const bad = runCli(['train', ...common, '--model_dir', path.join(tmpDir('model'), 'x'), '--lr_schedule', 'step']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/lr_schedule/);
  });

  test('--preset fills the flags the command line lacks; given flags win', () => {
    const m = path.join(tmpDir('model'), 'preset');
    const log = path.join(path.dirname(m), 'log.json');
    // Three levels: the preset's deep supervision needs them.
    const r = runCli(['train', '--data_dir', data, '--input_shape', '16', '16', '16', '--downscale_blocks', '1', '1', '1', '--upscale_blocks', '1', '1',
      '--model_dir', m, '--preset', 'best', '--train_epochs', '1', '--train_split', '0.67', '--log_dir', log]);
    expect(r.code).toBe(0);
    const params = Object.assign({}, ...fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l.slice(5))).filter((x) => x.step === 'PARAMETER').map((x) => x.data));
    expect(params).toMatchObject({ batch_size: 2, loss: 'dice_ce', optimizer: 'adam', lr_schedule: 'poly', augment: true, augment_mode: 'full', train_epochs: 1, train_split: 0.67, input_shape: [16, 16, 16], resize: 'none', deep_supervision: true });
    expect(JSON.parse(fs.readFileSync(path.join(m, 'config.json'), 'utf8')).model).toMatchObject({ resize: 'none', deepSupervision: true });
    const bad = runCli(['train', '--data_dir', data, '--model_dir', path.join(tmpDir('model'), 'x'), '--preset', 'fastest']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/preset/);
  });

  test('a run killed with SIGKILL between epochs resumes from its latest checkpoint', async () => {
    const m = path.join(tmpDir('model'), 'k');
    const child = startCli(['train', ...common, '--model_dir', m, '--train_epochs', '50']);
    const latest = path.join(m, 'latest.safetensors');
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (fs.existsSync(latest)) {
          clearInterval(t);
          child.kill('SIGKILL');
          resolve();
        }
      }, 50);
      child.on('exit', () => { clearInterval(t); reject(new Error('training ended before it could be killed')); });
    });
    await new Promise((r) => child.on('exit', r));
    const r = runCli(['train', ...common, '--model_dir', m, '--train_epochs', '3', '--resume']);
    expect(r.stderr).toMatch(/resuming/);
    expect(r.code).toBe(0);
    expect(fs.existsSync(path.join(m, 'final.safetensors'))).toBe(true);
  });
});

describe('CLI bad input: clear message, non-zero exit, earlier outputs intact', () => {
  test('no dataset.json', () => {
    const r = runCli(['train', '--data_dir', tmpDir('empty'), '--model_dir', path.join(tmpDir('m'), 'x'), '--batch_size', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/dataset\.json/);
  });

  test('corrupt image', () => {
    const dir = realSubset(4, 0);
    const ds = JSON.parse(fs.readFileSync(path.join(dir, 'dataset.json'), 'utf8'));
    const bad = path.join(dir, 'bad.nii.gz');
    fs.writeFileSync(bad, fs.readFileSync(ds.training[1].image).subarray(0, 500));
    ds.training[1].image = bad;
    fs.writeFileSync(path.join(dir, 'dataset.json'), JSON.stringify(ds));
    const r = runCli(['train', '--data_dir', dir, '--model_dir', path.join(tmpDir('m'), 'x'), '--batch_size', '2', ...SMALL_NET]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/VNET_E_CORRUPT_FILE/);
    expect(r.stderr).toMatch(/bad\.nii\.gz/);
  });

  test('missing checkpoint', () => {
    const r = runCli(['evaluate', ...common, '--model_dir', tmpDir('nomodel')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/VNET_E_NO_CHECKPOINT/);
  });

  test('mismatched config', () => {
    const m = path.join(tmpDir('model'), 'mm');
    expect(runCli(['train', ...common, '--model_dir', m, '--train_epochs', '1', '--train_split', '0.67']).code).toBe(0);
    const before = snapshot(m);
    const r = runCli(['evaluate', '--data_dir', data, '--batch_size', '2', '--model_dir', m, '--input_shape', '32', '32', '32']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/VNET_E_CONFIG_MISMATCH/);
    expect(r.stderr).toMatch(/inputShape/);
    expect(snapshot(m)).toEqual(before);
  });

  test('invalid block lists', () => {
    const r = runCli(['train', '--data_dir', data, '--model_dir', path.join(tmpDir('m'), 'x'), '--batch_size', '2', '--upscale_blocks', '3', '3', '3']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--upscale_blocks/);
  });

  test('unknown flag and mistyped mode get suggestions', () => {
    const r = runCli(['train', '--data_dir', data, '--model_dir', 'x', '--bach_size', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/did you mean --batch_size/);
    const r2 = runCli(['trian']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/Did you mean train/);
  });

  test('a wrong value names the flag', () => {
    const r = runCli(['train', '--data_dir', data, '--model_dir', 'x', '--batch_size', '2', '--optimizer', 'lbfgs']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/optimizer/);
    const r2 = runCli(['train', '--data_dir', data, '--model_dir', 'x', '--batch_size', '0']);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/--batch_size/);
    const r3 = runCli(['train', '--data_dir', data, '--model_dir', 'x', '--batch_size', '2', '--optimizer', 'adam', '--nesterov']);
    expect(r3.code).toBe(1);
    expect(r3.stderr).toMatch(/--nesterov needs --optimizer sgd/);
    const r4 = runCli(['train', '--data_dir', data, '--model_dir', 'x', '--batch_size', '2', '--optimizer', 'sgd', '--weight_decay', '-1']);
    expect(r4.code).toBe(1);
    expect(r4.stderr).toMatch(/--weight_decay/);
  });

  test('--device cuda without a GPU is a clear error, never a silent CPU fall back', () => {
    const r = runCli(['train', '--data_dir', data, '--model_dir', path.join(tmpDir('m'), 'x'), '--batch_size', '2', '--device', 'cuda']);
    if (r.code === 0) return; // a machine with a usable GPU
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--device cuda/);
  });
});
