// The op profile behind `--benchmark --profile`: convolutions keyed by direction and shape with
// their dense FLOP count, other ops by name, and the table's shares of the step.
import * as E from '../../src/engine/index.js';
import { formatProfile } from '../../src/bench/stats.js';

describe('op profile', () => {
  test('counts each conv direction at its shape with the dense FLOP count', () => {
    // x (2, 4,5,6, 3), w (3,3,3, 3,7), stride 1 'same': dy has 2*4*5*6 voxels x 7 channels.
    const x = E.tensor(new Float32Array(2 * 4 * 5 * 6 * 3).fill(0.5), [2, 4, 5, 6, 3], { requiresGrad: true });
    const w = E.tensor(new Float32Array(27 * 3 * 7).fill(0.25), [3, 3, 3, 3, 7], { requiresGrad: true });
    E.opProfile.start();
    const y = E.conv3d(x, w);
    E.backward(E.relu(y)); // seeded with ones
    const rows = E.opProfile.stop();
    expect(E.opProfile.enabled).toBe(false);
    const dense = 2 * (2 * 4 * 5 * 6 * 7) * 27 * 3;
    for (const op of ['conv3d_fprop', 'conv3d_dgrad', 'conv3d_wgrad']) {
      const first = op === 'conv3d_dgrad' ? '2x4x5x6x7' : '2x4x5x6x3';
      const r = rows.find((q) => q.op === `${op} ${first} w 3x3x3x3x7 s1,1,1`);
      expect(r).toBeDefined();
      expect(r!.calls).toBe(1);
      expect(r!.flops).toBe(dense);
      expect(r!.ms).toBeGreaterThanOrEqual(0);
    }
    const relu = rows.find((q) => q.op === 'relu');
    expect(relu?.calls).toBe(1);
    expect(relu?.flops).toBeUndefined();
    // Sorted by time, slowest first.
    for (let i = 1; i < rows.length; i++) expect(rows[i - 1].ms).toBeGreaterThanOrEqual(rows[i].ms);
  });

  test('the table gives per-step times, % of step and conv GFLOP/s', () => {
    const rows = [
      { op: 'conv3d_fprop 8x8x8x8x64 w 3x3x3x64x64 s1,1,1', calls: 6, ms: 30, flops: 6e9 },
      { op: 'relu_bwd', calls: 44, ms: 10 },
    ];
    const t = formatProfile(rows, 2, 50, 'cpu').split('\n');
    expect(t[0]).toBe('op profile, 2 steps, 25.0 ms per step (cpu)');
    // 6e9 FLOP in 30 ms = 200 GFLOP/s; 15 ms of a 25 ms step = 60 %.
    expect(t[2]).toMatch(/^ {2}conv3d_fprop 8x8x8x8x64 w 3x3x3x64x64 s1,1,1 +3 +15\.00 +60\.0 +200$/);
    expect(t[3]).toMatch(/^ {2}relu_bwd +22 +5\.00 +20\.0 *$/);
    expect(t.find((l) => l.includes('all convolutions'))).toMatch(/15\.00 +60\.0 +200$/);
    expect(t.find((l) => l.includes('all ops'))).toMatch(/20\.00 +80\.0/);
    expect(t.find((l) => l.includes('outside ops'))).toMatch(/5\.00 +20\.0/);
    expect(formatProfile(rows, 2, 50, 'cuda').split('\n')[0]).toContain('launch times');
  });
});

describe('--profile', () => {
  test('without --benchmark is refused by name', async () => {
    const { checkOptions } = await import('../../src/config/check.js');
    const { defaultRunOptions } = await import('../../src/config/options.js');
    const o = { ...defaultRunOptions, dataDir: '/nonexistent', modelDir: '/nonexistent-model', batchSize: 1 };
    expect(() => checkOptions({ ...o, profile: true, benchmark: false })).toThrow(/--profile needs --benchmark/);
    expect(() => checkOptions({ ...o, profile: true, benchmark: true })).not.toThrow(/--profile/);
  });
});
