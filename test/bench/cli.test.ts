// `vnet-native bench conv` end to end: a small problem in each direction, the three output
// formats, the exit codes of bad input (2: usage, naming the flag; 1: environment), the torch
// peer's absence as one line, and `npm run bench:conv` (`bench conv --vnet`) with the earlier JSON fields.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { native } from '../../bindings/native.js';
import { requireBuilt, runCli } from '../cli/helpers.js';

requireBuilt();
const quick = ['--warmup', '1', '--min_reps', '2', '--max_reps', '2', '--min_time', '0'];
const small = ['bench', 'conv', '--input', '1,6,6,6,4', '--filters', '5', ...quick];

describe('vnet-native bench conv', () => {
  test('a small problem in each direction: a table with every row checked', () => {
    const r = runCli([...small, '--kernel', '3', '--stride', '1,2,1', '--pad', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/FMA peak [\d.]+ GFLOP\/s/);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('conv 6x6x6x4>5 k3 s1x2x1 p1 '));
    expect(lines.map((l) => / (fprop|dgrad|wgrad) /.exec(l)?.[1])).toEqual(['fprop', 'dgrad', 'wgrad']);
    for (const l of lines) expect(l).toMatch(/direct\*.*\sok$/);
  });

  test('--json: one object per line with the documented fields; --csv: a header and rows', () => {
    const r = runCli([...small, '--transposed', '--kernel', '2', '--stride', '2', '--direction', 'fprop,wgrad', '--json']);
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows).toHaveLength(2);
    for (const f of ['layer', 'shape', 'batch', 'direction', 'dtype', 'math', 'device', 'algo', 'ms_median', 'ms_p10', 'ms_p90', 'reps', 'gflops', 'peak_fraction', 'peak_gflops', 'check'])
      expect(rows[0]).toHaveProperty(f);
    expect(rows.map((x) => x.direction)).toEqual(['fprop', 'wgrad']);
    expect(rows[0]).toMatchObject({ batch: 1, dtype: 'f32', math: 'fp32', device: 'cpu', reps: 2, check: 'ok', shape: { transposed: true } });
    const c = runCli([...small, '--direction', 'dgrad', '--csv', '--batch', '1,2']);
    expect(c.code).toBe(0);
    const csv = c.stdout.trim().split('\n');
    expect(csv[0].split(',').slice(0, 3)).toEqual(['layer', 'input', 'filters']);
    expect(csv).toHaveLength(3);
    expect(csv[2]).toMatch(/^conv 6x6x6x4>5 k3 s1 same,2x6x6x6x4,5,/);
  });

  test('bad input: exit 2 naming the flag', () => {
    const cases: [string[], RegExp][] = [
      [['bench', 'conv', '--input', '1,6,6,4', '--filters', '5'], /--input: '1,6,6,4' needs 5 values/],
      [['bench', 'conv', '--input', '1,4,4,4,2', '--filters', '5', '--kernel', '5', '--pad', 'valid'], /--kernel: 5 is larger than the padded --input/],
      [[...small, '--dtype', 'f16'], /--dtype f16: the CPU convolutions are f32 only/],
      [[...small, '--dtype', 'bf16'], /--dtype: 'bf16' must be a comma list of f32, f16/],
      [[...small, '--direction', 'bprop'], /--direction/],
      [['bench', 'conv', '--input', '1,4,4,4,2'], /--filters: required/],
      [['bench', 'conv', '--vnet', '--input', '1,4,4,4,2'], /--vnet and --input/],
      [['bench', 'conv', '--vnet', '--layers', 'nope'], /--layers: 'nope' matches none/],
    ];
    for (const [args, msg] of cases) {
      const r = runCli(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(msg);
    }
  });

  test('--device cuda without a GPU: exit 1 naming what is missing', () => {
    if (native.info().cudaAvailable) {
      console.log('skipped: a GPU is usable here, so --device cuda does not fail');
      return;
    }
    const r = runCli([...small, '--device', 'cuda']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/VNET_E_DEVICE.*--device cuda: no usable GPU \(.+\)/);
  });

  // Which python3 here has torch (the PATH's, the system's), to run or to refuse the peer.
  const hasTorch = (py: string) => spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
  const pythons = ['python3', '/usr/bin/python3'].filter((py) => !spawnSync(py, ['-V']).error);

  test('--peer torch without a Python or without torch is one line, not an error', () => {
    const none = runCli([...small, '--direction', 'fprop', '--peer', 'torch'], { env: { VNET_PYTHON: '/nonexistent/python3' } });
    expect(none.code).toBe(0);
    expect(none.stdout.split('\n').filter((l) => l.startsWith('peer torch skipped'))).toHaveLength(1);
    expect(none.stdout).toMatch(/could not run \/nonexistent\/python3/);
    const bare = pythons.find((py) => !hasTorch(py));
    if (!bare) {
      console.log('skipped the no-torch case: every python3 here has torch');
      return;
    }
    const r = runCli([...small, '--direction', 'fprop', '--peer', 'torch'], { env: { VNET_PYTHON: bare } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^peer torch skipped: torch is not importable/m);
  });

  test('--peer torch with torch: its time and the ratio beside ours', () => {
    const py = pythons.find(hasTorch);
    if (!py) {
      console.log('skipped: no python3 with torch here (apt-get install python3-torch)');
      return;
    }
    const r = runCli([...small, '--transposed', '--kernel', '2', '--stride', '2', '--peer', 'torch', '--json'], { env: { VNET_PYTHON: py } });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/peer: PyTorch [\w.]+ on cpu/);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => x.direction)).toEqual(['fprop', 'dgrad', 'wgrad']);
    for (const x of rows) {
      expect(x.peer_ms).toBeGreaterThan(0);
      expect(x.ratio).toBeCloseTo(x.peer_ms / x.ms_median, 9);
      expect(['ncdhw', 'channels_last_3d']).toContain(x.peer_layout);
    }
  });

  test('npm run bench:conv is `bench conv --vnet` with the earlier JSON fields; later flags win', () => {
    const script = (JSON.parse(fs.readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts['bench:conv'];
    const [node, main, ...args] = script.split(' ');
    expect([node, main, ...args.slice(0, 3)]).toEqual(['node', 'dist/src/cli/main.js', 'bench', 'conv', '--vnet']);
    const noPeer = args.filter((a, i) => a !== '--peer' && args[i - 1] !== '--peer');
    const r = spawnSync(process.execPath, [path.resolve(main), ...noPeer, '--batch', '1', '--layers', 'down3.res', '--min_reps', '2', '--json', '--min_time', '0', '--max_reps', '2', '--direction', 'fprop'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows).toHaveLength(1);
    for (const f of ['layer', 'batch', 'direction', 'ms', 'gflops', 'peak_fraction', 'peak_gflops', 'ms_median', 'reps'])
      expect(rows[0]).toHaveProperty(f);
    expect(rows[0]).toMatchObject({ layer: 'down3.res', batch: 1, direction: 'fprop', threads: 2 });
  });
});
