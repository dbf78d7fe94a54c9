// End to end on a few real cases: train with --resize none and --deep_supervision, resume,
// evaluate and predict by sliding window (masks in each input's shape and geometry), and the
// refusals (a model evaluated with other model flags, a bad --overlap); `cv` over 2 folds and
// predict with the folds' ensemble.
import fs from 'node:fs';
import path from 'node:path';
import { niftiAffine, readNifti, readNiftiLabels } from '../../src/data/index.js';
import { HAVE_DATA } from '../data/helpers.js';
import { realSubset, requireBuilt, runCli, tmpDir } from '../cli/helpers.js';

const NET = ['--input_shape', '16', '24', '16', '--downscale_blocks', '1', '1', '1', '--upscale_blocks', '1', '1'];
const d = HAVE_DATA ? describe : describe.skip;
if (!HAVE_DATA) console.warn('skipped: full-resolution CLI tests: no real dataset (set VNET_DATA_DIR)');

d('full-resolution CLI', () => {
  let data = '', model = '';
  beforeAll(() => {
    requireBuilt();
    data = realSubset(6, 2);
    model = path.join(tmpDir('native'), 'm');
  });
  const common = () => ['--data_dir', data, '--batch_size', '2', ...NET, '--resize', 'none', '--deep_supervision', '--train_split', '0.67'];

  test('train_and_evaluate at full resolution, then --resume', () => {
    const r = runCli(['train_and_evaluate', ...common(), '--model_dir', model, '--train_epochs', '1', '--augment', '--foreground_oversample', '0.5']);
    expect(r.stderr).toMatch(/epoch 1: mean loss/);
    expect(r.code).toBe(0);
    const cfg = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8'));
    expect(cfg.model).toMatchObject({ resize: 'none', deepSupervision: true, inputShape: [16, 24, 16] });
    const s = JSON.parse(fs.readFileSync(path.join(model, 'eval', 'summary.json'), 'utf8'));
    expect(s.metric_per_case).toHaveLength(2);
    expect(r.stdout).toMatch(/HD95/);
    const again = runCli(['train', ...common(), '--model_dir', model, '--train_epochs', '2', '--resume']);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/epoch 2: mean loss/);
  });

  test('predict writes masks in each input shape and geometry (with mirroring TTA)', () => {
    const out = path.join(path.dirname(model), 'pred');
    const r = runCli(['predict', '--data_dir', data, '--model_dir', model, '--batch_size', '4', '--tta', '--overlap', '0.25', '--output_dir', out]);
    expect(r.code).toBe(0);
    const ds = JSON.parse(fs.readFileSync(path.join(data, 'dataset.json'), 'utf8')) as { test: string[] };
    for (const img of ds.test) {
      const mask = readNiftiLabels(path.join(out, path.basename(img)));
      const src = readNifti(img);
      expect(mask.shape).toEqual(src.shape);
      expect(niftiAffine(mask.header)).toEqual(niftiAffine(src.header));
      expect(mask.data.every((v) => v >= 0 && v <= 2)).toBe(true);
    }
  });

  test('other model flags are refused; so is a bad --overlap', () => {
    const r = runCli(['evaluate', '--data_dir', data, '--batch_size', '2', ...NET, '--model_dir', model]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/VNET_E_CONFIG_MISMATCH.*resize/);
    const bad = runCli(['evaluate', '--data_dir', data, '--batch_size', '2', '--model_dir', model, '--overlap', '1']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--overlap/);
  });

  test('cv writes a model per fold (disjoint, covering held-out cases) and the CV summary; the folds predict as an ensemble', () => {
    const root = path.join(path.dirname(model), 'cv');
    const small = ['--input_shape', '16', '16', '16', '--downscale_blocks', '1', '1', '--upscale_blocks', '1'];
    const r = runCli(['cv', '--folds', '2', '--data_dir', data, '--model_dir', root, '--batch_size', '2', ...small, '--resize', 'none', '--train_epochs', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/cross-validation over 2 folds/);
    const s = JSON.parse(fs.readFileSync(path.join(root, 'summary.json'), 'utf8'));
    expect(s.per_fold.map((f: { cases: number }) => f.cases)).toEqual([3, 3]);
    expect(s.mean).toHaveProperty('1');
    const held = [0, 1].flatMap((k) => JSON.parse(fs.readFileSync(path.join(root, `fold_${k}`, 'split.json'), 'utf8')).eval as string[]);
    expect(new Set(held).size).toBe(6);
    const models = [0, 1].map((k) => path.join(root, `fold_${k}`)).join(',');
    const p = runCli(['predict', '--data_dir', data, '--model_dir', root, '--batch_size', '2', '--models', models]);
    expect(p.code).toBe(0);
    expect(fs.readdirSync(path.join(root, 'predictions'))).toHaveLength(2);
    const e = runCli(['evaluate', '--data_dir', data, '--model_dir', root, '--batch_size', '2', '--models', models]);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/no training case was held out by every model/);
    // Another model on fold 0 (another seed) holds out the same cases: the pair evaluates as an ensemble.
    const other = path.join(root, 'fold_0_seed7');
    expect(runCli(['train', '--folds', '2', '--fold', '0', '--seed', '7', '--data_dir', data, '--model_dir', other, '--batch_size', '2', ...small, '--resize', 'none', '--train_epochs', '1']).code).toBe(0);
    const pair = runCli(['evaluate', '--data_dir', data, '--model_dir', root, '--batch_size', '2', '--models', `${path.join(root, 'fold_0')},${other}`, '--no-report']);
    expect(pair.code).toBe(0);
    expect(pair.stderr).toMatch(/evaluating 3 cases with an ensemble of 2 models/);
    const es = JSON.parse(fs.readFileSync(path.join(root, 'eval', 'summary.json'), 'utf8'));
    expect(es.models).toBe(2);
    expect(es.metric_per_case.map((c: { case: string }) => c.case).sort()).toEqual(JSON.parse(fs.readFileSync(path.join(root, 'fold_0', 'split.json'), 'utf8')).eval.sort());
    const noFold = runCli(['train', '--data_dir', data, '--model_dir', path.join(root, 'x'), '--batch_size', '2', '--folds', '3']);
    expect(noFold.code).not.toBe(0);
    expect(noFold.stderr).toMatch(/--folds needs --fold/);
  });
});
