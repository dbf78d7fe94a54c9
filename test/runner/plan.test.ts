// The plan: a fingerprint of a generated dataset (spacings, shapes, per-channel foreground
// statistics, class fractions), a plan that fits the memory given (and a clear error naming
// --memory_gb when nothing fits), the `plan` command's file (never written over an input), and
// `train --plan FILE|auto` filling the flags the command line lacks.
import fs from 'node:fs';
import path from 'node:path';
import { fingerprintCases, loadDataset } from '../../src/data/index.js';
import { planDataset, planFrom, readPlan, trainingBytes } from '../../src/runner/plan.js';
import { requireBuilt, runCli, snapshot, tmpDir } from '../cli/helpers.js';
import { writeCt, writeTwoChannel } from '../data/generated.js';

let ct = '';
beforeAll(() => {
  requireBuilt();
  ct = tmpDir('plan-ct');
  writeCt(ct, { cases: 4, tests: 1, shape: [40, 48, 32], pixdim: [0.8, 0.8, 1.5] });
});

describe('fingerprint and plan', () => {
  it('fingerprints spacings, shapes, foreground intensities and class fractions', () => {
    const p = planDataset(ct, 8);
    expect(p.dataset).toMatchObject({ cases: 4, channels: 1, modality: ['CT'], normalization: ['ct'] });
    expect(p.fingerprint.spacing.median).toEqual([0.8, 0.8, 1.5]);
    expect(p.fingerprint.shape.median).toEqual([40, 48, 32]);
    const fg = p.fingerprint.foreground[0];
    expect(fg.min).toBeGreaterThan(0); // the organ and lesion, 20-80 HU: no air, no bone
    expect(fg.max).toBeLessThan(100);
    const fr = Object.values(p.fingerprint.classFractions);
    expect(fr.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
    expect(p.fingerprint.classFractions.background).toBeGreaterThan(0.5);
  });

  it('plans a patch of the median case at the target spacing, in multiples of 2^levels, within the memory', () => {
    const { plan } = planDataset(ct, 8);
    expect(plan.targetSpacing).toEqual([0.8, 0.8, 1.5]);
    expect(plan.medianShape).toEqual([40, 48, 32]);
    const k = 2 ** plan.levels;
    expect(plan.patch.every((n) => n % k === 0)).toBe(true);
    expect(plan.patch).toEqual([40, 48, 32]);
    expect(plan.downscaleBlocks.length).toBe(plan.levels);
    expect(plan.upscaleBlocks.length).toBe(plan.levels - 1);
    expect(plan.batchSize).toBeGreaterThanOrEqual(2);
    expect(plan.estimatedGb).toBeLessThanOrEqual(8);
  });

  it('a smaller budget shrinks the batch, then the patch; one too small for anything is refused naming --memory_gb', () => {
    const spec = loadDataset(ct);
    const fp = fingerprintCases(spec.training, 1, 3);
    const big = planFrom(fp, 8, 3);
    const tight = trainingBytes(big.patch, big.levels, 2) / 2 ** 30;
    const at = planFrom(fp, tight * 1.01, 3);
    expect(at.patch).toEqual(big.patch);
    expect(at.batchSize).toBe(2);
    const smaller = planFrom(fp, tight * 0.9, 3);
    expect(smaller.patch[0] * smaller.patch[1] * smaller.patch[2]).toBeLessThan(big.patch[0] * big.patch[1] * big.patch[2]);
    expect(smaller.estimatedGb).toBeLessThanOrEqual(tight * 0.9);
    expect(() => planFrom(fp, 0.05, 3)).toThrow(/--memory_gb 0.05: even a batch of 2/);
  });

  it('plans a two-channel dataset for two channels', () => {
    const d = tmpDir('plan-two');
    writeTwoChannel(d, 'nnunet', { cases: 3, tests: 0 });
    const p = planDataset(d, 4);
    expect(p.dataset.channels).toBe(2);
    expect(p.fingerprint.foreground.length).toBe(2);
    expect(p.fingerprint.foreground[1].mean).toBeGreaterThan(p.fingerprint.foreground[0].mean); // channel 1: thousands
  });
});

describe('the plan command and train --plan', () => {
  it('writes the plan, never over an input; train --plan FILE and --plan auto take its flags', () => {
    const out = path.join(tmpDir('plan-out'), 'plan.json');
    const r = runCli(['plan', '--data_dir', ct, '--output', out]);
    expect(r.code).toBe(0);
    const plan = readPlan(out);
    expect(JSON.parse(r.stdout)).toEqual(plan);
    // Over dataset.json: refused, the dataset untouched.
    const before = snapshot(ct);
    const bad = runCli(['plan', '--data_dir', ct, '--output', path.join(ct, 'dataset.json')]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/VNET_E_UNSAFE_OUTPUT/);
    expect(snapshot(ct)).toEqual(before);

    const model = path.join(tmpDir('plan-model'), 'm');
    const t = runCli(['train', '--data_dir', ct, '--model_dir', model, '--plan', out, '--batch_size', '1', '--train_epochs', '1']);
    expect(t.stderr).not.toMatch(/error/);
    expect(t.code).toBe(0);
    const cfg = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8')).model;
    expect(cfg).toMatchObject({ inputShape: plan.plan.patch, resize: 'none', targetSpacing: plan.plan.targetSpacing, downscaleBlocks: plan.plan.downscaleBlocks });
    expect(cfg.intensity[0].scheme).toBe('ct');

    const auto = path.join(tmpDir('plan-auto'), 'm');
    expect(runCli(['train', '--data_dir', ct, '--model_dir', auto, '--plan', 'auto', '--batch_size', '1', '--train_epochs', '1', '--input_shape', '16', '16', '16']).code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(auto, 'config.json'), 'utf8')).model.inputShape).toEqual([16, 16, 16]); // the command line wins
  }, 180_000);

  it('a plan that does not fit, or a file that is not a plan, is a clear error and writes nothing', () => {
    const model = path.join(tmpDir('plan-bad'), 'm');
    const r = runCli(['train', '--data_dir', ct, '--model_dir', model, '--plan', 'auto', '--memory_gb', '0.05']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/VNET_E_BAD_FLAG.*--memory_gb 0.05/);
    const notPlan = runCli(['train', '--data_dir', ct, '--model_dir', model, '--plan', path.join(ct, 'dataset.json')]);
    expect(notPlan.stderr).toMatch(/--plan .*dataset\.json: not a plan/);
    expect(fs.existsSync(model)).toBe(false);
  });
});
