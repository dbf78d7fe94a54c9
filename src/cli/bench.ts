// `vnet-native bench conv`: flags, help and the handler of the convolution microbenchmark
// (the work is in src/bench/). Bad flag values are usage errors (exit 2); a missing GPU or
// library, or a result that fails the correctness check, exits 1.
import os from 'node:os';
import type { Argv, Options } from 'yargs';
import { UsageError } from './flags.js';
import { RunError } from '../config/options.js';
import * as E from '../engine/index.js';
import { benchCase, benchCases, checkDevice, checkSkippedNote, gpuPeak, peakFor, type BenchHooks, type BenchOptions, type BenchRow, type BenchDType, type BenchMath } from '../bench/conv.js';
import { RowWriter, type OutputFormat } from '../bench/format.js';
import { peerKey, TorchPeer } from '../bench/peer.js';
import { BenchInputError, DIRECTIONS, VNET_LAYERS, makeProblem, parseInts, type Direction } from '../bench/problem.js';

const P = 'Problem:', T = 'What to time:', H = 'Timing:', O = 'Output:';
export const benchConvFlags: Record<string, Options> = {
  input: { group: P, type: 'string', describe: 'layer input N,D,H,W,C (NDHWC)' },
  filters: { group: P, type: 'number', describe: 'output channels K' },
  kernel: { group: P, type: 'string', default: '3', describe: 'kernel size k or kd,kh,kw' },
  stride: { group: P, type: 'string', default: '1', describe: 'stride s or sd,sh,sw' },
  pad: { group: P, type: 'string', default: 'same', describe: "padding: same (TF's), valid, p or pd,ph,pw (both sides)" },
  transposed: { group: P, type: 'boolean', default: false, describe: 'a transposed convolution (--input is its input, --filters its output channels)' },
  vnet: { group: P, type: 'boolean', default: false, describe: "the V-Net's 13 distinct layer shapes at 32³ (spec §1.5 names)" },
  batch: { group: P, type: 'string', describe: 'batch sizes, e.g. 2,8 (default 8 with --vnet; overrides N of --input)' },
  layers: { group: P, type: 'string', describe: 'with --vnet: only layers whose name contains one of these, e.g. res,tconv' },
  direction: { group: T, type: 'string', default: 'fprop,dgrad,wgrad', describe: "directions, the layer's own (a transposed conv's fprop is the engine's dgrad)" },
  dtype: { group: T, type: 'string', default: 'f32', describe: 'f32, f16 (CUDA) or both: f32,f16' },
  math: { group: T, type: 'string', describe: 'for f32: fp32, tf32 (CUDA) or both (default: tf32 on CUDA, fp32 on the CPU)' },
  device: { group: T, type: 'string', choices: ['cpu', 'cuda'], default: 'cpu', describe: 'where to run' },
  threads: { group: T, type: 'number', describe: 'CPU threads (default: the engine default)' },
  algo: { group: T, type: 'string', default: 'auto', describe: "auto: the engine's choice (the row names it); all: every algorithm that supports the problem (CUDA: each cuDNN algorithm and the GEMM path; CPU: direct, winograd, winograd4 and the reference loops); on the CPU also a comma list of those, e.g. direct,winograd; * marks the engine's" },
  peer: { group: T, type: 'string', choices: ['torch'], describe: 'also run the problems through PyTorch (python3 or $VNET_PYTHON) and show the ratio' },
  warmup: { group: H, type: 'number', default: 2, describe: 'untimed calls first' },
  min_reps: { group: H, type: 'number', default: 5, alias: 'min-reps', describe: 'timed calls: at least this many ...' },
  min_time: { group: H, type: 'number', alias: 'min-time', describe: '... and at least this many seconds in total (default 0.3 on the CPU, 0.05 on CUDA)' },
  max_reps: { group: H, type: 'number', alias: 'max-reps', describe: 'at most this many timed calls (default 1000 on the CPU, 100 on CUDA)' },
  check_limit: { group: H, type: 'number', default: 5e8, alias: 'check-limit', describe: 'check results against the CPU reference up to this many multiply-adds (0: never)' },
  json: { group: O, type: 'boolean', default: false, describe: 'one JSON object per line' },
  csv: { group: O, type: 'boolean', default: false, describe: 'CSV with a header line' },
};

export const BENCH_EXAMPLES: [string, string][] = [
  ['$0 bench conv --input 2,32,32,32,16 --filters 32', 'one 3³ same-padded conv on the CPU, all three directions'],
  ['$0 bench conv --input 2,16,16,16,64 --filters 32 --kernel 2 --stride 2 --transposed', 'a 2³ stride-2 transposed conv'],
  ['$0 bench conv --vnet --batch 8 --peer torch', "the V-Net's layer shapes, PyTorch side by side"],
  ['$0 bench conv --vnet --device cuda --batch 8,32 --dtype f32,f16 --math fp32,tf32 --json', 'GPU precisions as JSON lines'],
  ['$0 bench conv --input 8,16,16,16,64 --filters 64 --device cuda --algo all', 'every cuDNN algorithm, the engine’s marked'],
];

function list<T extends string>(flag: string, v: string, allowed: readonly T[]): T[] {
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.filter((s) => !allowed.includes(s as T));
  if (!items.length || bad.length) throw new BenchInputError(`${flag}: '${v}' must be a comma list of ${allowed.join(', ')}`);
  return [...new Set(items)] as T[];
}

const CPU_ALGOS = ['direct', 'winograd', 'winograd4', 'reference'] as const;

/** --algo: auto or all anywhere; on the CPU also a comma list of CPU_ALGOS. */
function algoFlag(v: string, device: 'cpu' | 'cuda'): string {
  if (v === 'auto' || v === 'all') return v;
  if (device === 'cuda') throw new BenchInputError(`--algo: '${v}' must be auto or all on CUDA`);
  return list('--algo', v, ['auto', 'all', ...CPU_ALGOS]).some((x) => x === 'auto' || x === 'all')
    ? (() => { throw new BenchInputError(`--algo: '${v}': auto and all stand alone`); })()
    : list('--algo', v, CPU_ALGOS).join(',');
}

/** yargs argv -> benchmark options; throws BenchInputError naming the flag. */
export function toBenchOptions(a: Record<string, unknown>): BenchOptions & { format: OutputFormat; peer?: 'torch' } {
  const device = a.device as 'cpu' | 'cuda';
  if (a.vnet && a.input !== undefined) throw new BenchInputError('--vnet and --input: give one of them');
  let problems;
  if (a.vnet) {
    const filt = a.layers ? String(a.layers).split(',').filter(Boolean) : [];
    problems = filt.length ? VNET_LAYERS.filter((l) => filt.some((f) => l.name.includes(f))) : VNET_LAYERS;
    if (!problems.length) throw new BenchInputError(`--layers: '${String(a.layers)}' matches none of ${VNET_LAYERS.map((l) => l.name).join(', ')}`);
  } else {
    if (a.input === undefined) throw new BenchInputError('--input: give the problem (--input N,D,H,W,C --filters K) or --vnet');
    if (a.filters === undefined) throw new BenchInputError('--filters: required with --input (the output channels)');
    if (a.layers !== undefined) throw new BenchInputError('--layers: only with --vnet');
    problems = [makeProblem({ input: String(a.input), filters: a.filters as number, kernel: String(a.kernel), stride: String(a.stride), pad: String(a.pad), transposed: Boolean(a.transposed) })];
  }
  const batches = a.batch !== undefined ? parseInts('--batch', String(a.batch), String(a.batch).split(',').length) : a.vnet ? [8] : undefined;
  // GPU kernels take microseconds to milliseconds: fewer calls already give a stable median.
  a = { min_time: device === 'cuda' ? 0.05 : 0.3, max_reps: device === 'cuda' ? 100 : 1000, ...Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) };
  const num = (flag: string, min: number) => {
    const v = a[flag] as number;
    if (!Number.isFinite(v) || v < min) throw new BenchInputError(`--${flag}: must be a number >= ${min}, got ${String(a[flag])}`);
    return v;
  };
  const int = (flag: string, min: number) => {
    const v = num(flag, min);
    if (!Number.isInteger(v)) throw new BenchInputError(`--${flag}: must be an integer, got ${v}`);
    return v;
  };
  if (a.threads !== undefined) int('threads', 1);
  if (a.json && a.csv) throw new BenchInputError('--json and --csv: give one of them');
  const o = {
    problems, batches,
    directions: list<Direction>('--direction', String(a.direction), DIRECTIONS),
    dtypes: list<BenchDType>('--dtype', String(a.dtype), ['f32', 'f16']),
    maths: list<BenchMath>('--math', String(a.math ?? (device === 'cuda' ? 'tf32' : 'fp32')), ['fp32', 'tf32']),
    device, threads: a.threads as number | undefined, algo: algoFlag(String(a.algo), device),
    warmup: int('warmup', 0), minReps: int('min_reps', 1), minTime: num('min_time', 0), maxReps: int('max_reps', 1), checkLimit: num('check_limit', 0),
    format: (a.json ? 'json' : a.csv ? 'csv' : 'table') as OutputFormat,
    peer: a.peer as 'torch' | undefined,
  };
  if (o.maxReps < o.minReps) throw new BenchInputError(`--max_reps: ${o.maxReps} is below --min_reps ${o.minReps}`);
  return o;
}

/** `hooks` is for tests (a corrupted result must end the command with VNET_E_BENCH_CHECK). */
export async function cmdBenchConv(a: Record<string, unknown>, hooks: BenchHooks = {}): Promise<void> {
  let o: ReturnType<typeof toBenchOptions>;
  try {
    o = toBenchOptions(a);
  } catch (e) {
    throw e instanceof BenchInputError ? new UsageError(e.message) : e;
  }
  // Notes go to stderr when stdout carries machine-readable rows.
  const note = (s: string) => (o.format === 'table' ? process.stdout : process.stderr).write(s + '\n');
  const rows: BenchRow[] = [];
  let peer: TorchPeer | undefined;
  try {
    checkDevice(o);
    if (o.threads) E.useDevice({ threads: o.threads });
    const info = E.info();
    if (o.device === 'cpu') note(`conv bench on the CPU: ${info.isa} kernels, ${info.threads} threads, FMA peak ${peakFor('cpu', 'fp32', info.threads).toFixed(1)} GFLOP/s (measured by the engine)`);
    else {
      const g = gpuPeak();
      const clock = g.clockSource === 'max' ? `${g.clockMHz} MHz, the maximum boost clock: reads high for sustained tensor-core work`
        : `${g.clockMHz} MHz measured under load (VNET_GPU_CLOCK_MHZ; maximum boost ${g.maxClockMHz} MHz: fp16 ${((g.fp16 * g.maxClockMHz) / g.clockMHz / 1e3).toFixed(1)} TFLOP/s)`;
      note(`conv bench on ${g.name} (sm_${g.computeCapability.replace('.', '')}, ${g.sms} SMs): peaks fp32 ${(g.fp32 / 1e3).toFixed(1)}, TF32 ${(g.tf32 / 1e3).toFixed(1)}, fp16 ${(g.fp16 / 1e3).toFixed(1)} TFLOP/s at ${clock} (SMs x clock x rate per SM by compute capability)`);
    }
    if (o.peer === 'torch') {
      const started = await TorchPeer.start(o, info.threads);
      if (typeof started === 'string') note(started);
      else {
        peer = started;
        note(`${peer.note}; each case runs there right before ours; ratio = peer time / ours (above 1: we are faster)`);
        // Other jobs on the cores make both timings noisy, and the ratio swings far more than either.
        const load = os.loadavg()[0], cores = os.availableParallelism();
        if (load > cores) note(`warning: the load average (${load.toFixed(1)}) is above the ${cores} cores: other jobs share them, so the ratios can swing widely; rerun on a quiet machine`);
      }
    }
    const width = Math.max(5, ...o.problems.map((p) => p.name.length));
    const writer = new RowWriter(o.format, (s) => process.stdout.write(s), { layer: width, algo: o.device === 'cuda' ? (o.algo === 'all' ? 38 : 32) : 11 }, Boolean(peer));
    const skipped: string[] = [];
    for (const { p, n } of benchCases(o)) {
      const times = peer ? await peer.measure(p, n) : undefined;
      const r = benchCase(o, p, n, (row) => {
        const t = times?.get(peerKey(row.dtype, row.math, row.direction));
        if (t && row.chosen) Object.assign(row, { peer_ms: t.ms, peer_layout: t.layout, ...(row.ms_median ? { ratio: t.ms / row.ms_median } : {}) });
        rows.push(row);
        writer.row(row);
      }, hooks);
      if (r.checkSkipped) skipped.push(`${p.name}@${n}`);
    }
    if (skipped.length) note(checkSkippedNote(skipped, o.checkLimit));
    if (peer?.skipped.length) note(`peer skipped ${peer.skipped.join('; ')}`);
  } catch (e) {
    throw e instanceof BenchInputError ? new UsageError(e.message) : e;
  } finally {
    peer?.close();
  }
  // The engine's own choice must be right; another algorithm's FAIL (--algo all) is shown in
  // its row, untimed, with a note.
  const others = rows.filter((r) => r.check === 'FAIL' && !r.chosen);
  if (others.length) note(`${others.length} algorithm(s) the engine does not choose failed the check: ${others.map((r) => `${r.layer} ${r.direction} ${r.algo}`).join('; ')}`);
  const bad = rows.filter((r) => r.chosen && (r.check === 'FAIL' || r.check === 'error'));
  if (bad.length)
    throw new RunError(`correctness check failed: ${bad.map((r) => `${r.layer} batch ${r.batch} ${r.direction} ${r.dtype}/${r.math} ${r.algo}${r.check_error !== undefined ? ` (relative error ${r.check_error.toExponential(2)})` : ` (${r.error ?? ''})`}`).join('; ')}; their times are not reported`, 'VNET_E_BENCH_CHECK');
}

/** Registers `bench` with its `conv` subcommand. */
export function benchCommand(y: Argv): Argv {
  return y
    .command('conv', 'microbenchmark single 3D convolutions (fprop, dgrad, wgrad) for any shape, CPU or CUDA', (c) =>
      c.options(benchConvFlags).example(BENCH_EXAMPLES), (a) => cmdBenchConv(a as Record<string, unknown>))
    .demandCommand(1, 'Give a benchmark: `vnet-native bench conv --help`.');
}
