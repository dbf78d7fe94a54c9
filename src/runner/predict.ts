// The predict mode: every test image through the segmenter with the dataset's classes, masks in
// --output_dir; with --benchmark, timed forward passes instead (on an untrained model when there
// is none, as the reference's).
import fs from 'node:fs';
import path from 'node:path';
import * as E from '../engine/index.js';
import { Loader, type CaseRef } from '../data/index.js';
import { RunError, type RunOptions } from '../config/options.js';
import { benchStats, formatBench, formatProfile, peakRssMb, tensorMemoryMb, type BenchStats } from '../bench/stats.js';
import { loadMembers } from '../infer/ensemble.js';
import { buildModel } from '../infer/model.js';
import { predictCases } from '../infer/predict.js';
import { inputSpec, predictProbs } from '../infer/probs.js';
import { Segmenter } from '../infer/segmenter.js';
import type { VNet } from '../nn/index.js';
import type { LogSink } from '../train/log.js';
import { loadTrained, type ModeContext } from './evaluate.js';

export async function runPredict(c: ModeContext): Promise<{ files: string[]; bench?: BenchStats }> {
  const { opts, spec, log } = c;
  const haveModel = fs.existsSync(path.join(opts.modelDir, 'config.json'));
  let net: VNet;
  const members = opts.models && !opts.benchmark ? await loadMembers(opts.models, spec, { device: c.device, amp: opts.amp, xla: opts.xla }) : [];
  if (members.length) net = members.shift()!;
  else if (haveModel) net = await loadTrained(c);
  else if (opts.benchmark) net = buildModel(c.cfg.model, { device: c.device, seed: opts.seed, amp: opts.amp, xla: opts.xla });
  else throw new RunError(`no trained model in ${opts.modelDir} (no config.json): train first`, 'VNET_E_NO_CHECKPOINT');
  net.training = false;
  try {
    if (opts.benchmark) return { files: [], bench: await benchmarkPredict(opts, net, spec.test, log) };
    const outDir = opts.outputDir ?? path.join(opts.modelDir, 'predictions');
    const seg = new Segmenter(net, c.cfg.labels, { batchSize: opts.batchSize, tta: opts.tta, overlap: opts.overlap, members });
    let files: string[];
    try {
      files = await predictCases(seg, spec.test, outDir, (id, f) => log.info(`wrote ${f}`));
    } finally {
      await seg.dispose();
    }
    process.stdout.write(`${files.length} masks in ${outDir}\n`);
    return { files };
  } finally {
    net.dispose();
    for (const m of members) m.dispose();
  }
}

async function benchmarkPredict(opts: RunOptions, net: VNet, cases: CaseRef[], log: LogSink): Promise<BenchStats> {
  if (cases.length < opts.batchSize) throw new RunError(`--batch_size ${opts.batchSize} is larger than the ${cases.length} test images`, 'VNET_E_BAD_FLAG');
  const loader = new Loader({ cases, batchSize: opts.batchSize, mode: 'predict', inputShape: net.config.inputShape, workers: 0, input: inputSpec(net.config) });
  await loader.preload();
  const timed = opts.benchmarkSteps ?? Math.max(opts.warmupSteps, 20);
  const times: number[] = [];
  let step = 0;
  try {
    for (let epoch = 0; step < opts.warmupSteps + timed; epoch++) {
      for await (const b of loader.epoch(epoch)) {
        if (b.size !== opts.batchSize) continue; // time full batches only
        if (opts.profile && step === opts.warmupSteps) E.opProfile.start();
        const t = process.hrtime.bigint();
        predictProbs(net, b);
        const ms = Number(process.hrtime.bigint() - t) / 1e6;
        if (step >= opts.warmupSteps) times.push(ms);
        if (++step >= opts.warmupSteps + timed) break;
      }
    }
  } finally {
    await loader.close();
  }
  const profile = opts.profile ? E.opProfile.stop() : undefined;
  if (profile) process.stdout.write(formatProfile(profile, times.length, times.reduce((a, b) => a + b, 0), opts.device) + '\n');
  const s = benchStats(times, opts.batchSize);
  log.log([], { throughput_predict: s.throughput, throughput_predict_mean_of_rates: s.throughputMeanOfRates, latency_mean_ms: s.latencyMeanMs, latency_p50_ms: s.p50Ms, latency_p90_ms: s.p90Ms, latency_p95_ms: s.p95Ms, latency_p99_ms: s.p99Ms, peak_rss_mb: peakRssMb() });
  process.stdout.write(formatBench('predict', s, peakRssMb(), tensorMemoryMb()) + '\n');
  return s;
}
