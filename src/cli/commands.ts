// The commands beyond the reference's modes: validate, summary, demo, download (doctor: doctor.ts).
import fs from 'node:fs';
import path from 'node:path';
import * as E from '../engine/index.js';
import { VNet } from '../nn/index.js';
import { downloadDataset, formatProblems, makeDirs, validateDataset } from '../data/index.js';
import { modelConfig, runMode, withDefaults, RunError } from '../runner/index.js';
import type { ModelOptions } from '../config/options.js';
import { writeSyntheticDataset } from '../data/synthetic.js';
import { resolveModel } from '../infer/shipped.js';
import { predictFiles } from '../runner/predict-files.js';

export function cmdValidate(dataDir: string, values: boolean): void {
  const t0 = Date.now();
  const res = validateDataset(dataDir, { values });
  if (res.errors.length) process.stdout.write(formatProblems(res.errors) + '\n');
  if (res.warnings.length) process.stdout.write(formatProblems(res.warnings) + '\n');
  process.stdout.write(`${res.cases} cases checked in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${res.errors.length} error(s), ${res.warnings.length} warning(s)\n`);
  if (res.errors.length) process.exitCode = 1;
}

const num = (n: number) => n.toLocaleString('en-US');

export function cmdSummary(o: ModelOptions, nClasses: number): void {
  const net = E.tidy(() => new VNet(modelConfig(o, nClasses)));
  try {
    const rows = net.summary();
    const head = ['layer', 'op', 'channels', 'output', 'params', 'GFLOP'];
    const table = [head, ...rows.map((r) => [r.name, r.op, r.channels, r.out, num(r.params), (r.flops / 1e9).toFixed(3)])];
    const w = head.map((_, i) => Math.max(...table.map((r) => r[i].length)));
    const line = (r: string[]) => r.map((c, i) => (i >= 4 ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ');
    process.stdout.write(`${table.map(line).join('\n')}\n`);
    const flops = rows.reduce((a, r) => a + r.flops, 0);
    process.stdout.write(`\ntrainable parameters: ${num(net.store.numTrainable())}\n`);
    process.stdout.write(`non-trainable (batch-norm moving statistics): ${num([...net.store.buffers.values()].reduce((a, t) => a + t.size, 0))}\n`);
    process.stdout.write(`forward: ${(flops / 1e9).toFixed(3)} GFLOP per sample (dense, 2 per multiply-add); training step ≈ ${((3 * flops) / 1e9).toFixed(1)} GFLOP per sample\n`);
  } finally {
    net.dispose();
  }
}

/** Marks a folder as a demo run, which the next demo may rotate to run.prev. */
const DEMO_MARK = '.vnet-demo-run';
const isLink = (d: string) => { try { return fs.lstatSync(d).isSymbolicLink(); } catch { return false; } };
const isDemoRun = (d: string) => !isLink(d) && fs.statSync(d).isDirectory() && fs.existsSync(path.join(d, DEMO_MARK));

/** `demo --model <dir | name> --data_dir D`: no training; the model segments D's test images into <model_dir>/predictions. */
async function demoWithModel(a: { data_dir?: string; model_dir?: string; model: string; threads?: number }): Promise<void> {
  const model = resolveModel(a.model);
  if (!a.data_dir) throw new RunError(`demo --model ${a.model} needs --data_dir, a dataset whose imagesTs the model segments (e.g. from \`vnet-native download\`)`, 'VNET_E_BAD_FLAG');
  const input = path.join(a.data_dir, 'imagesTs');
  if (!fs.existsSync(input)) throw new RunError(`--data_dir ${a.data_dir} has no imagesTs folder to segment`, 'VNET_E_BAD_FLAG');
  resolveModel(a.model);
  const out = path.resolve(a.model_dir ?? 'vnet-demo', 'predictions');
  const r = await predictFiles({ input, output: out, model: a.model, threads: a.threads });
  process.stdout.write(`\ndemo finished: ${r.written.length} mask(s) in ${out}\n  report: ${path.join(out, 'report.html')}\n  look at them: vnet-native serve --model ${a.model}\n`);
}

export async function cmdDemo(a: { data_dir?: string; model_dir?: string; train_epochs?: number; threads?: number; model?: string }): Promise<void> {
  if (a.model) return demoWithModel({ ...a, model: a.model });
  const modelDir = path.resolve(a.model_dir ?? 'vnet-demo');
  const run = path.join(modelDir, 'run');
  // The demo's own previous run is kept as run.prev (replacing the one before); a folder the
  // demo did not make (no marker file) is never moved or deleted.
  const prev = `${run}.prev`;
  const refuse = (d: string) => { throw new RunError(`${d} exists and was not made by the demo (no ${DEMO_MARK}); move it away or choose another --model_dir`, 'VNET_E_UNSAFE_OUTPUT'); };
  if (fs.existsSync(run) || isLink(run)) {
    if (!isDemoRun(run)) refuse(run);
    if (fs.existsSync(prev) || isLink(prev)) {
      if (!isDemoRun(prev)) refuse(prev);
      fs.rmSync(prev, { recursive: true, force: true });
    }
    fs.renameSync(run, prev);
  }
  makeDirs(run);
  fs.writeFileSync(path.join(run, DEMO_MARK), 'a run of `vnet-native demo`; the next demo moves this folder to run.prev\n');
  let dataDir = a.data_dir;
  if (!dataDir) {
    dataDir = path.join(modelDir, 'data');
    if (!fs.existsSync(path.join(dataDir, 'dataset.json'))) {
      process.stderr.write(`writing a synthetic dataset (MSD layout) to ${dataDir}\n`);
      await writeSyntheticDataset(dataDir, { seed: 1 });
    }
  }
  const synthetic = !a.data_dir;
  const opts = withDefaults({
    // Flips only: the extras of 'full' pay off over long trainings, not in ~100 steps.
    dataDir, modelDir: run, batchSize: 2, trainSplit: synthetic ? 0.75 : 0.9, augment: true, augmentMode: 'flips',
    trainEpochs: a.train_epochs ?? (synthetic ? 12 : 3), baseLr: synthetic ? 1e-3 : 1e-4, optimizer: synthetic ? 'adam' : 'rmsprop',
    threads: a.threads, evalEvery: 1,
    // A minute of training is ~100 steps: the moving averages need a shorter memory than 0.99.
    bnMomentum: 0.9,
  });
  process.stderr.write(`validating ${dataDir}\n`);
  cmdValidate(dataDir, true);
  if (process.exitCode) throw new RunError(`the dataset in ${dataDir} did not validate`, 'VNET_E_DATASET');
  const t0 = Date.now();
  await runMode('train_and_evaluate', opts);
  await runMode('predict', { ...opts, resume: false });
  process.stdout.write(`\ndemo finished in ${((Date.now() - t0) / 1000).toFixed(0)} s\n  masks:   ${path.join(run, 'predictions')}\n  summary: ${path.join(run, 'eval', 'summary.json')}\n  report:  ${path.join(run, 'report.html')}\n`);
}

export async function cmdDownload(dataDir: string, url?: string, sha256?: string): Promise<void> {
  let last = 0;
  const res = await downloadDataset({
    dataDir, url, sha256,
    onProgress: (p) => {
      const now = Date.now();
      if (now - last < 200 && p.done !== p.total) return;
      last = now;
      const pct = p.total ? ` ${((100 * p.done) / p.total).toFixed(1)}%` : '';
      process.stderr.write(`\rdownloading ${(p.done / 1e6).toFixed(1)} MB${p.total ? ` of ${(p.total / 1e6).toFixed(1)} MB` : ''}${pct}\x1b[K`);
    },
  });
  process.stderr.write('\n');
  process.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
}
