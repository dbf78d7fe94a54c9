// The convolution benchmark in process: every direction of a small problem on the CPU, the
// fields of a row, the correctness guard (a corrupted or NaN result is caught and its time not
// reported), the size limit of the check, and the device checks.
import { native } from '../../bindings/native.js';
import { percentile } from '../../src/bench/stats.js';
import { relError, runConvBench, checkDevice, type BenchOptions, type BenchRow } from '../../src/bench/conv.js';
import { BenchInputError, makeProblem, geometry, denseFlops } from '../../src/bench/problem.js';
import { cmdBenchConv } from '../../src/cli/bench.js';

const problem = makeProblem({ input: '2,6,6,6,5', filters: 7, kernel: '3', stride: '2', pad: 'same', transposed: false });
const tconv = makeProblem({ input: '1,4,4,4,6', filters: 3, kernel: '2', stride: '2', pad: 'same', transposed: true });
const base: BenchOptions = {
  problems: [problem], directions: ['fprop', 'dgrad', 'wgrad'], dtypes: ['f32'], maths: ['fp32'], device: 'cpu',
  algo: 'auto', warmup: 1, minReps: 3, minTime: 0, maxReps: 3, checkLimit: 1e9, threads: 2,
};
const run = (o: Partial<BenchOptions> = {}, hooks = {}) => {
  const notes: string[] = [];
  const rows = runConvBench({ ...base, ...o }, () => {}, (s) => notes.push(s), hooks);
  return { rows, notes };
};

describe('bench conv on the CPU', () => {
  test('each direction of a strided, padded conv and of a transposed conv is checked and timed', () => {
    const { rows } = run({ problems: [problem, tconv] });
    expect(rows.map((r) => `${r.layer.split(' ')[0]}/${r.direction}`)).toEqual(['conv/fprop', 'conv/dgrad', 'conv/wgrad', 'tconv/fprop', 'tconv/dgrad', 'tconv/wgrad']);
    for (const r of rows) {
      expect(r.check).toBe('ok');
      expect(r.check_error).toBeLessThan(1e-4);
      expect(r.reps).toBe(3);
      expect(r.chosen).toBe(true);
      expect(r.ms_p10!).toBeLessThanOrEqual(r.ms_median!);
      expect(r.ms_median!).toBeLessThanOrEqual(r.ms_p90!);
      expect(r.gflops).toBeCloseTo(denseFlops(geometry(r.layer.startsWith('t') ? tconv : problem, r.batch)) / (r.ms_median! * 1e6), 6);
      expect(r.peak_fraction).toBeCloseTo(r.gflops! / r.peak_gflops, 9);
    }
  });

  test('a row carries every documented field', () => {
    const { rows } = run({ directions: ['wgrad'] });
    const keys: (keyof BenchRow)[] = ['layer', 'shape', 'batch', 'direction', 'dtype', 'math', 'device', 'algo', 'chosen', 'ms_median', 'ms_p10', 'ms_p90', 'reps', 'gflops', 'peak_gflops', 'peak_fraction', 'check', 'ms'];
    for (const k of keys) expect(rows[0]).toHaveProperty(k);
    expect(rows[0]).toMatchObject({ batch: 2, direction: 'wgrad', dtype: 'f32', math: 'fp32', device: 'cpu', algo: 'direct' });
    expect(rows[0].ms).toBe(rows[0].ms_median);
  });

  test('the guard catches a wrong result: no time is reported for it', () => {
    const { rows } = run({ directions: ['fprop', 'dgrad'] }, {
      corrupt: (r: { direction: string }, out: Float32Array) => {
        if (r.direction === 'dgrad') out[out.length >> 1] += 1e-2 * Math.max(...out.map(Math.abs));
      },
    });
    expect(rows[0].check).toBe('ok');
    expect(rows[1]).toMatchObject({ direction: 'dgrad', check: 'FAIL', ms_median: null, gflops: null, reps: 0 });
    expect(rows[1].check_error).toBeGreaterThan(1e-3);
  });

  test('through the command, a wrong result of the engine ends it with VNET_E_BENCH_CHECK (exit 1)', async () => {
    const write = process.stdout.write;
    const out: string[] = [];
    process.stdout.write = ((s: string) => (out.push(s), true)) as typeof process.stdout.write;
    try {
      const args = { input: '1,6,6,6,4', filters: 5, kernel: '3', stride: '1', pad: 'same', transposed: false, vnet: false, direction: 'wgrad', dtype: 'f32', device: 'cpu', algo: 'auto', warmup: 0, min_reps: 1, max_reps: 1, min_time: 0, check_limit: 1e9, json: true, csv: false, threads: 2 };
      await expect(cmdBenchConv(args, { corrupt: (_r, o) => o.fill(0) })).rejects.toThrow(expect.objectContaining({ code: 'VNET_E_BENCH_CHECK', message: expect.stringMatching(/correctness check failed: conv .* wgrad f32\/fp32 (direct|winograd)/) }));
    } finally {
      process.stdout.write = write;
    }
    const row = JSON.parse(out.join('').trim());
    expect(row).toMatchObject({ check: 'FAIL', ms_median: null, reps: 0 });
  });

  test('a NaN result fails the check', () => {
    const a = new Float32Array([1, 2, 3]), b = new Float32Array([1, NaN, 3]);
    expect(relError(b, a)).toBe(Infinity);
    expect(relError(a, a)).toBe(0);
    expect(percentile([1, 2, 3, 4, 5], 50)).toBe(3);
    expect(percentile([1, 2, 3, 4, 5], 10)).toBeCloseTo(1.4);
  });

  test('problems beyond --check_limit are timed with the check skipped and a note', () => {
    const { rows, notes } = run({ directions: ['fprop'], checkLimit: 10 });
    expect(rows[0].check).toBe('skipped');
    expect(rows[0].ms_median).toBeGreaterThan(0);
    expect(notes.join('\n')).toMatch(/check skipped .*--check_limit/);
  });

  test('--algo all times the fast kernel and the reference loops, the engine choice marked', () => {
    const { rows } = run({ directions: ['fprop'], algo: 'all' });
    expect(rows.map((r) => [r.algo, r.chosen, r.check])).toEqual([['direct', true, 'ok'], ['reference', false, 'ok']]);
  });

  test('f16 and TF32 are refused on the CPU; CUDA without a GPU is an environment error', () => {
    expect(() => checkDevice({ ...base, dtypes: ['f16'] })).toThrow(BenchInputError);
    expect(() => checkDevice({ ...base, maths: ['tf32'] })).toThrow(/--math tf32/);
    const info = native.info();
    if (info.cudaAvailable) {
      console.log('skipped the no-GPU case: a GPU is usable here');
      return;
    }
    expect(() => checkDevice({ ...base, device: 'cuda' })).toThrow(expect.objectContaining({ code: 'VNET_E_DEVICE', message: expect.stringMatching(/--device cuda: no usable GPU/) }));
  });

  test('on CUDA: every precision checks against the reference, --algo all marks one choice per row group', () => {
    const info = native.info();
    if (!info.cudaAvailable) {
      console.log(`skipped the CUDA case: ${info.cudaUnavailableReason ?? 'no GPU'}`);
      return;
    }
    const rows = run({ device: 'cuda', dtypes: ['f32', 'f16'], maths: ['fp32', 'tf32'], algo: 'all', problems: [problem, tconv] }).rows;
    const groups = new Map<string, BenchRow[]>();
    for (const r of rows) groups.set(`${r.layer}/${r.direction}/${r.dtype}/${r.math}`, [...(groups.get(`${r.layer}/${r.direction}/${r.dtype}/${r.math}`) ?? []), r]);
    expect(groups.size).toBe(2 * 3 * 3);
    for (const [k, g] of groups) {
      expect({ k, chosen: g.filter((r) => r.chosen).length }).toEqual({ k, chosen: 1 });
      expect({ k, check: g.find((r) => r.chosen)!.check }).toEqual({ k, check: 'ok' });
      for (const r of g) if (r.check === 'FAIL') console.log(`${k}: ${r.algo} (not the engine's choice) failed the check: ${r.check_error}`);
    }
  });
});
