#!/usr/bin/env node
// The vnet-native command line: the reference's modes (also as --exec_mode), plus validate,
// summary, doctor, demo, download, export, ... Exit codes: 0 ok, 1 failure, 2 bad usage.
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { envValue } from '../env.js';
import { runFlags, withKebab, toRunOptions, allFlagNames, expandPlan, expandPreset, modelFlagsGiven, lastFlagWins, UsageError } from './flags.js';
import { errorLine } from './error-line.js';
import { MODES, MODE_STEPS, defaultRunOptions, runCurve, runCv, runMode, RunError, type Mode } from '../runner/index.js';
import type { Triple } from '../engine/index.js';
import { checkOptions } from '../config/check.js';
import { checkParallel } from '../config/device.js';
import { rankFromEnv } from '../env.js';
import { launchRanks } from '../train/ranks.js';
import { checkBatchFitsRanks } from '../train/split.js';
import { cmdDemo, cmdDownload, cmdSummary, cmdValidate } from './commands.js';
import { cmdDoctor } from './doctor.js';
import { benchCommand } from './bench.js';
import { cmdServe } from '../serve/command.js';
import { cmdPredictFiles, isFileForm, predictFileFlags } from './predict.js';
import { versionText } from './version.js';
import { exportModelDir, parseBatch, ONNX_OPSETS } from '../export/onnx.js';
import { DEFAULT_MEMORY_GB, runPlan } from '../runner/plan.js';

const MODE_HELP: Record<Mode, string> = {
  train: 'train a V-Net on the dataset (checkpoints in --model_dir)',
  evaluate: 'evaluate the trained model on the held-out split (soft Dice at the input shape, hard Dice and HD95 at full resolution)',
  predict: 'write a mask for every test image of --data_dir, at its original shape and geometry (or, with -i, for your own scans: `predict -i scan.nii.gz -o out --model hippocampus`)',
  train_and_evaluate: 'train, then evaluate (needs --train_split < 1)',
  train_and_predict: 'train, then predict',
};

/** `--exec_mode X` (the reference's spelling) becomes the command X. */
export function normaliseArgv(argv: string[]): string[] {
  const i = argv.findIndex((a) => a === '--exec_mode' || a === '--exec-mode' || a.startsWith('--exec_mode=') || a.startsWith('--exec-mode='));
  if (i < 0) return argv;
  const eq = argv[i].indexOf('=');
  const mode = eq > 0 ? argv[i].slice(eq + 1) : argv[i + 1];
  const rest = argv.filter((_, j) => j !== i && !(eq < 0 && j === i + 1));
  return mode ? [mode, ...rest] : rest;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)] as number[]);
  for (let j = 1; j <= b.length; j++) dp[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) dp[i][j] = Math.min(dp[i - 1][j] + 1, dp[i][j - 1] + 1, dp[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return dp[a.length][b.length];
}

/** "Unknown argument: bach_size" -> adds "did you mean --batch_size?". */
function suggestFlag(msg: string, argv: string[]): string {
  const names = allFlagNames();
  const known = new Set([...names, 'help', 'h', 'url', 'sha256', 'values', 'n_classes', 'n-classes']);
  const unknown = argv.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]).filter((a) => a && !known.has(a) && !known.has(a.replace(/^no-/, '')));
  const hints = unknown.map((bad) => {
    const best = names.map((n) => [n, editDistance(bad, n)] as const).sort((x, y) => x[1] - y[1])[0];
    return best && best[1] <= Math.max(2, bad.length / 3) ? `--${bad}: did you mean --${best[0]}?` : '';
  }).filter(Boolean);
  return hints.length ? `${msg}\n${hints.join('\n')}` : msg;
}

const EXAMPLES: [string, string][] = [
  ['$0 demo', 'synthetic data, a short training, evaluation and prediction (no network needed)'],
  ['$0 demo --model hippocampus --data_dir data/Task04_Hippocampus', 'the shipped model segments the test images, no training'],
  ['$0 validate --data_dir data/Task04_Hippocampus', 'check a dataset before training'],
  ['$0 train_and_evaluate --data_dir data/Task04_Hippocampus --model_dir runs/ref --batch_size 2 --train_epochs 80 --augment --train_split 0.9', 'the reference recipe'],
  ['$0 train_and_evaluate --data_dir data/Task04_Hippocampus --model_dir runs/best --preset best', 'our recommended recipe (about an hour on a 2-core CPU)'],
  ['$0 predict -i scan.nii.gz -o out --model hippocampus', 'segment a scan with the shipped hippocampus model (out/scan.nii.gz, out/report.html)'],
  ['$0 predict -i dicom/series1 -o out --model runs/best', 'a DICOM series in, a DICOM SEG out (out/series1.seg.dcm)'],
  ['$0 predict --data_dir data/Task04_Hippocampus --model_dir runs/ref --batch_size 8', 'masks for a dataset\'s test images into runs/ref/predictions'],
  ['$0 train --data_dir D --model_dir M --batch_size 8 --benchmark', 'training throughput'],
];

export function buildCli(rawArgv: string[]): Argv {
  const flags = withKebab(runFlags);
  const argv = expandPlan(expandPreset(normaliseArgv(lastFlagWins(rawArgv))));
  let cli = yargs(argv)
    .scriptName('vnet-native')
    .usage('$0 <command> [flags]\n\nV-Net 3D segmentation of NIfTI volumes on a native engine.')
    .parserConfiguration({ 'camel-case-expansion': false, 'duplicate-arguments-array': false })
    .strict()
    .recommendCommands()
    .demandCommand(1, `Give a command: ${[...MODES, 'cv', 'curve', 'validate', 'summary', 'doctor', 'demo', 'download', 'bench', 'export', 'serve', 'plan'].join(', ')}; e.g. \`vnet-native demo\`.`)
    .help()
    .alias('h', 'help')
    .version(false)
    .option('version', { type: 'boolean', describe: 'print the package version, the addon build (CPU kernels, CUDA architectures, where it loaded from) and the Node version' })
    .wrap(Math.min(110, process.stdout.columns ?? 100));
  for (const mode of MODES) {
    if (mode === 'predict' && isFileForm(argv)) {
      cli = cli.command(mode, 'segment your own scans: NIfTI files or DICOM series in, masks (NIfTI or DICOM SEG) out', (y) => y.options(predictFileFlags).example(EXAMPLES.filter((e) => e[0].includes(' -i '))), cmdPredictFiles);
      continue;
    }
    cli = cli.command(mode, MODE_HELP[mode], (y) => y.options(flags).example(EXAMPLES.filter((e) => e[0].includes(mode))), async (a) => {
      const o = toRunOptions(a, argv);
      if (o.gpus > 1 && MODE_STEPS[mode].train && !rankFromEnv()) {
        // This process becomes the launcher: one child per rank, the same command line.
        checkOptions(o);
        try {
          checkParallel(o);
          checkBatchFitsRanks(o);
        } catch (e) {
          // Bad usage (the batch does not fit the ranks) before any rank starts: exit 2, said once.
          if (e instanceof RunError && e.code === 'VNET_E_BAD_FLAG') throw new UsageError(`${e.message} [${e.code}]`);
          throw e;
        }
        const nnodes = a.nnodes as number;
        if (nnodes > 1 && a.master_port === undefined) throw new RunError('--nnodes > 1 needs --master_port (the same on every node)', 'VNET_E_BAD_FLAG');
        const code = await launchRanks(o.gpus, { nnodes, nodeRank: a.node_rank as number, masterAddr: a.master_addr as string, masterPort: a.master_port as number | undefined });
        if (code) process.exitCode = code;
        return;
      }
      await runMode(mode, o, { modelFlagsGiven: modelFlagsGiven(argv) });
    });
  }
  cli = cli.command('cv', 'cross-validation: train_and_evaluate each of --folds F into <model_dir>/fold_k (--resume continues each), then <model_dir>/summary.json (per fold and mean)', (y) => y.options(flags), async (a) => {
    const r = await runCv(toRunOptions(a, argv), { modelFlagsGiven: modelFlagsGiven(argv) });
    process.stdout.write(`cross-validation over ${r.summary.folds} folds: foreground Dice ${r.summary.foreground_mean.Dice.toFixed(4)}, HD95 ${r.summary.foreground_mean.HD95.toFixed(2)} mm\nsummary: ${r.file}\n`);
  });
  cli = cli.command('curve', 'hard Dice against training minutes from one run: evaluate every minute_<m> checkpoint of --save_at_minutes (and final) into <model_dir>/eval/minute_<m>, print the table, write <model_dir>/curve.json', (y) => y.options(flags), async (a) => {
    const r = await runCurve(toRunOptions(a, argv), { modelFlagsGiven: modelFlagsGiven(argv) });
    process.stdout.write(`\nDice against training time (evaluation excluded):\n${r.table}\ncurve: ${r.file}\n`);
  });
  const dataDir = { data_dir: { type: 'string' as const, describe: 'folder holding dataset.json', demandOption: true, alias: 'data-dir' } };
  cli = cli
    .command('validate', 'check a dataset: every problem with a stable code; non-zero exit on errors', (y) => y.options({ ...dataDir, values: { type: 'boolean', default: true, describe: 'scan voxel values (NaN, label values)' } }), (a) => cmdValidate(a.data_dir as string, a.values as boolean))
    .command('summary', 'the V-Net layer table: output shapes, parameters, FLOPs per sample', (y) => y.options({ ...pick(flags, ['input_shape', 'upscale_blocks', 'downscale_blocks', 'convolution_size']), n_classes: { type: 'number', default: 3, describe: 'number of classes' } }), (a) => cmdSummary({ ...defaultRunOptions, inputShape: a.input_shape as Triple, upscaleBlocks: a.upscale_blocks as number[], downscaleBlocks: a.downscale_blocks as number[], convolutionSize: a.convolution_size as 3 | 5 }, a.n_classes as number))
    .command('plan', 'fingerprint a dataset (spacings, shapes, per-channel foreground intensities, class fractions) and plan the training (spacing, patch, batch, levels) for --memory_gb, as JSON; `train --plan auto|FILE` uses it', (y) => y.options({
      ...dataDir,
      memory_gb: { type: 'number', default: DEFAULT_MEMORY_GB, describe: 'memory the training may use, in GB', alias: 'memory-gb' },
      output: { type: 'string', describe: 'also write the plan to this file (train --plan FILE reads it)' },
    }), (a) => { runPlan(a.data_dir as string, a.memory_gb as number, a.output as string | undefined); })
    .command('doctor', 'devices and libraries found: CPU features, CUDA driver and runtime, cuDNN, cuBLAS, NCCL', (y) => y, () => cmdDoctor())
    .command('demo', 'synthetic MSD dataset (or --data_dir), short training, evaluation, prediction, report', (y) => y.options({
      data_dir: { type: 'string', describe: 'run on this dataset instead of synthetic data', alias: 'data-dir' },
      model_dir: { type: 'string', describe: 'where the run goes (default ./vnet-demo)', alias: 'model-dir' },
      train_epochs: { type: 'number', describe: 'epochs (default: fit about a minute of training)', alias: 'train-epochs' },
      threads: { type: 'number', describe: 'CPU threads' },
      model: { type: 'string', describe: 'skip training: this model (a folder, or a shipped model, e.g. hippocampus) segments --data_dir\'s imagesTs' },
    }), (a) => cmdDemo(a as { data_dir?: string; model_dir?: string; train_epochs?: number; threads?: number; model?: string }))
    .command('download', 'fetch Task04_Hippocampus from a Medical Segmentation Decathlon mirror, resumable and checked', (y) => y.options({
      ...dataDir,
      url: { type: 'string', describe: 'mirror URL of Task04_Hippocampus.tar' },
      sha256: { type: 'string', describe: 'expected checksum of the tar' },
    }), (a) => cmdDownload(a.data_dir as string, a.url as string | undefined, a.sha256 as string | undefined))
    .command('bench', 'microbenchmarks: `bench conv` times single 3D convolutions (any shape, CPU or CUDA)', benchCommand)
    .command('export', 'write the trained model as ONNX (onnxruntime, TensorRT, OpenVINO, ...), with how to feed it in its metadata', (y) => y.options({
      model_dir: { type: 'string', describe: 'the trained model (config.json + checkpoint)', demandOption: true, alias: 'model-dir' },
      output: { type: 'string', describe: 'the .onnx file (default <model_dir>/model.onnx)' },
      opset: { type: 'number', default: ONNX_OPSETS.default, describe: `ONNX opset (${ONNX_OPSETS.min}-${ONNX_OPSETS.max})` },
      batch: { type: 'string', default: 'dynamic', describe: "batch size: 'dynamic' or a fixed N" },
      layout: { choices: ['ndhwc', 'ncdhw'] as const, default: 'ndhwc' as const, describe: "the input's (and output's) layout" },
      probabilities: { type: 'boolean', describe: 'output softmax probabilities (the default)', conflicts: 'logits' },
      logits: { type: 'boolean', describe: 'output logits instead of probabilities' },
    }), async (a) => {
      const r = await exportModelDir(a.model_dir, { file: a.output, opset: a.opset, batch: parseBatch(a.batch), layout: a.layout, output: a.logits ? 'logits' : 'probabilities' });
      process.stdout.write(`wrote ${r.file} (${(r.bytes / 2 ** 20).toFixed(1)} MiB)\n`);
    })
    .command('serve', 'a segmentation service over HTTP: a viewer page at /, POST a NIfTI or a DICOM series to /predict, get the mask; /health, /info, /metrics', (y) => y.options({
      model: { type: 'string', describe: 'a trained model folder, or a shipped model by name (hippocampus)', conflicts: 'model_dir' },
      model_dir: { type: 'string', describe: 'the trained model (config.json + checkpoint); same as --model with a folder', alias: 'model-dir' },
      cors: { type: 'string', describe: 'let web pages of this origin (e.g. https://viewer.example.org, or * for any) call the API from a browser' },
      host: { type: 'string', default: '127.0.0.1', describe: 'address to listen on (0.0.0.0: every interface)' },
      port: { type: 'number', default: 8080, describe: 'port (0: any free one, printed at start)' },
      device: runFlags.device, tta: runFlags.tta, amp: runFlags.amp, xla: runFlags.xla, threads: runFlags.threads, overlap: runFlags.overlap,
      max_batch: { type: 'number', describe: 'most requests run as one forward pass (default 1 on CPU, where batching did not pay, 8 on CUDA; 1: no dynamic batching)', alias: 'max-batch' },
      batch_window_ms: { type: 'number', default: 10, describe: 'longest a ready request waits for requests still being read to share its batch', alias: 'batch-window-ms' },
      max_queue: { type: 'number', default: 64, describe: 'requests accepted at once; beyond, 503 with Retry-After', alias: 'max-queue' },
      max_body_mb: { type: 'number', default: 64, describe: 'largest request body (413 beyond)', alias: 'max-body-mb' },
      workers: { type: 'number', describe: 'preprocessing worker threads (default min(2, cores - 1))' },
      max_voxels: { type: 'number', describe: 'most voxels one request may declare, refused (413) from its header before any work (default 33554432 = 512x512x128)', alias: 'max-voxels' },
      request_timeout_s: { type: 'number', describe: 'longest a whole request may take to arrive (default 60; 408 beyond)', alias: 'request-timeout-s' },
      idle_timeout_s: { type: 'number', describe: 'longest a request body may pause (default 10; 408 beyond)', alias: 'idle-timeout-s' },
      shutdown_grace_s: { type: 'number', describe: 'on SIGTERM, longest the requests in flight are waited for (default 30; then 503)', alias: 'shutdown-grace-s' },
    }).check((a) => {
      if (!a.model && !a.model_dir) throw new UsageError('Missing required argument: model (a model folder, or a shipped model: hippocampus)');
      return true;
    }), (a) => cmdServe({
      model: (a.model ?? a.model_dir) as string, modelFlag: a.model ? '--model' : '--model_dir', cors: a.cors, host: a.host, port: a.port, device: a.device as 'cpu' | 'cuda' | undefined, tta: a.tta as boolean, amp: a.amp as boolean, xla: a.xla as boolean,
      threads: a.threads as number | undefined, overlap: a.overlap as number, maxBatch: a.max_batch, batchWindowMs: a.batch_window_ms, maxQueue: a.max_queue, maxBodyMb: a.max_body_mb, workers: a.workers,
      maxVoxels: a.max_voxels, requestTimeoutS: a.request_timeout_s, idleTimeoutS: a.idle_timeout_s, shutdownGraceS: a.shutdown_grace_s,
    }))
    .example(EXAMPLES)
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`vnet-native: ${suggestFlag(msg, argv)}\nRun \`vnet-native --help\` (or \`vnet-native <command> --help\`) for usage.\n`);
      process.exit(2);
    });
  return cli;
}


function pick<T extends Record<string, unknown>>(o: T, keys: string[]): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => keys.includes(k))) as Partial<T>;
}

export async function main(argv = hideBin(process.argv)): Promise<number> {
  try {
    if (argv.length === 1 && argv[0] === '--version') {
      process.stdout.write(versionText());
      return 0;
    }
    await buildCli(argv).parseAsync();
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`vnet-native: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`\n${errorLine(e)}`);
    if (envValue('VNET_DEBUG')) process.stderr.write(`${(e as Error).stack}\n`);
    return 1;
  }
}

// Run when executed directly (not when imported by tests or by bin.js, the installed executable).
const invokedAs = process.argv[1] ?? '';
if (/(^|[\\/])main\.js$/.test(invokedAs)) {
  main().then((code) => process.exit(code));
}
