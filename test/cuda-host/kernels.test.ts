// The CUDA backend compiled for the host (build/Release/vnet_native_host.node; `npm run build`
// builds it with VNET_HOST_KERNELS=ON): every hand-written kernel runs through the host shim
// (native/cuda/host/: one fiber per GPU thread, real barriers and warp exchanges, launch limits
// checked) against the CPU backend on the op table's cases plus its tails and odd shapes, in
// fp32 and fp16; the cuDNN / cuBLAS / NCCL paths run against stand-in libraries
// (test/cuda-host/fakes/), which check the engine's side of those calls, not the libraries.
// The same jest-free runner (bench/gpu/run_checks.js) runs these sections on the GPU machine.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUILD, DIST, HOST, ROOT, hostEnv, hostMissing, skipHost } from './helpers.js';

const SHIM_TESTS = path.join(BUILD, 'vnet_host_tests');
const CHECKS = path.join(DIST, 'bench', 'gpu', 'run_checks.js');
const skipped = skipHost;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vnet-host-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Summary { section: string; pass: number; fail: number; failed: string[]; sticky?: unknown }

function section(name: string, extra: Record<string, string> = {}): { summary: Summary; out: string } {
  const r = spawnSync(process.execPath, [CHECKS, name, '--device', 'cuda'], { env: hostEnv(extra), encoding: 'utf8', timeout: 300000 });
  const out = r.stdout + r.stderr;
  const line = out.split('\n').find((l) => l.startsWith('@@ '));
  if (!line) throw new Error(`run_checks ${name} printed no summary (exit ${r.status}):\n${out.slice(-3000)}`);
  return { summary: JSON.parse(line.slice(3)) as Summary, out };
}

const failures = (s: { summary: Summary; out: string }) => s.out.split('\n').filter((l) => l.startsWith('FAIL') || l.startsWith('STICKY'));

test('the shim itself (barriers, shuffles, atomics, shared memory, limits, capture) and the cuDNN algorithm choice', () => {
  if (skipped()) return;
  const r = spawnSync(SHIM_TESTS, [], { encoding: 'utf8', timeout: 60000 });
  expect(r.stdout.split('\n').filter((l) => l.startsWith('FAIL'))).toEqual([]);
  expect(r.status).toBe(0);
  const m = /^(\d+) passed, 0 failed$/m.exec(r.stdout);
  expect(Number(m?.[1])).toBeGreaterThanOrEqual(22);
});

describe('every hand-written kernel against the CPU backend', () => {
  const log = path.join(tmp, 'launches.log');
  let ops: ReturnType<typeof section>, conv: ReturnType<typeof section>;
  beforeAll(() => {
    if (hostMissing) return;
    ops = section('ops', { VNET_HOST_CUDA_LOG: log });
    conv = section('conv', { VNET_HOST_CUDA_LOG: log });
  });

  test('the op table and its tails, fp32 and fp16: element-wise, reductions, layout, batch norm, loss, optimizers', () => {
    if (skipped()) return;
    expect(failures(ops)).toEqual([]);
    expect(ops.summary.fail).toBe(0);
    expect(ops.summary.pass).toBeGreaterThanOrEqual(100);
  });

  test('the convolutions: weight transposes, padding windows, stride-2 gather/scatter around cuDNN and cuBLAS', () => {
    if (skipped()) return;
    expect(failures(conv)).toEqual([]);
    expect(conv.summary.pass).toBeGreaterThanOrEqual(40);
  });

  test('coverage: every __global__ kernel in native/cuda/kernels ran', () => {
    if (skipped()) return;
    const dir = path.join(ROOT, 'native', 'cuda', 'kernels');
    const kernels = new Set<string>();
    for (const f of fs.readdirSync(dir).filter((n) => /\.cuh?$/.test(n)))
      for (const m of fs.readFileSync(path.join(dir, f), 'utf8').matchAll(/__global__\s+void\s+(\w+)/g)) kernels.add(m[1]);
    const ran = new Set(fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('kernel ')).map((l) => l.slice(7).replace(/<.*$/, '').trim()));
    expect(kernels.size).toBeGreaterThanOrEqual(30);
    expect([...kernels].filter((k) => !ran.has(k))).toEqual([]);
  });
});

describe('the cuDNN algorithm choice end to end (stand-in cuDNN)', () => {
  test('no channels-last algorithm: every convolution runs channels-first through the transpose kernel, and agrees', () => {
    if (skipped()) return;
    const log = path.join(tmp, 'cudnn-nhwc-none.log');
    const r = section('conv', { VNET_FAKE_CUDNN: 'nhwc:none', VNET_FAKE_CUDNN_LOG: log });
    expect(failures(r)).toEqual([]);
    expect(r.summary.pass).toBeGreaterThanOrEqual(40);
    const runs = fs.readFileSync(log, 'utf8').trim().split('\n');
    expect(new Set(runs)).toEqual(new Set(['forward channels-first', 'backward-data channels-first', 'backward-filter channels-first']));
  });

  test('the timed search offers nothing within the workspace: the heuristics choose, and the results agree', () => {
    if (skipped()) return;
    const r = section('conv', { VNET_FAKE_CUDNN: 'find:huge' });
    expect(failures(r)).toEqual([]);
    expect(r.summary.fail).toBe(0);
  });

  test('nothing anywhere: VNET_E_UNSUPPORTED naming the geometry and what each search offered', () => {
    if (skipped()) return;
    const code = `const a = require(${JSON.stringify(HOST)});
      const x = a.fromArray(new Float32Array(2*6*6*6*3), [2,6,6,6,3], 'f32', 'cuda');
      const w = a.fromArray(new Float32Array(27*3*4), [3,3,3,3,4], 'f32', 'cuda');
      try { a.run('conv3d_fprop', [x.handle, w.handle], { pad: [1,1,1], pad_back: [1,1,1] }); console.log('NO ERROR'); }
      catch (e) { console.log(e.code + ' ' + e.message); }`;
    const r = spawnSync(process.execPath, ['-e', code], { env: hostEnv({ VNET_FAKE_CUDNN: 'all:none' }), encoding: 'utf8' });
    expect(r.stdout).toMatch(/^VNET_E_UNSUPPORTED .*cuDNN offers no forward algorithm for conv3d_fprop N=2 6x6x6x3 -> 6x6x6x4, kernel 3x3x3/);
    for (const s of ['channels-last timed search', 'channels-last heuristics', 'channels-first timed search', 'channels-first heuristics'])
      expect(r.stdout).toContain(s);
  });
});

test('a launch past the hardware limits is an error naming the kernel, not a crash (dice loss over 65536 samples)', () => {
  if (skipped()) return;
  const code = `const a = require(${JSON.stringify(HOST)});
    const n = 65536;
    const x = a.fromArray(new Float32Array(n * 2), [n, 1, 1, 1, 2], 'f32', 'cuda');
    const y = a.fromArray(new Int32Array(n), [n, 1, 1, 1], 'i32', 'cuda');
    try { a.run('dice_loss', [x.handle, y.handle], {}); console.log('NO ERROR'); } catch (e) { console.log(e.code + ' ' + e.message); }`;
  const r = spawnSync(process.execPath, ['-e', code], { env: hostEnv(), encoding: 'utf8' });
  expect(r.stdout).toMatch(/^VNET_E_SHAPE .*launch of dice_fwd_kernel<T>: grid y or z above 65535/);
});

describe('the rest of the GPU check on the host shim', () => {
  test('golden small V-Net: loss, every gradient, changes over steps against the CPU', () => {
    if (skipped()) return;
    const r = section('golden');
    expect(failures(r)).toEqual([]);
    expect(r.summary.pass).toBeGreaterThan(10);
  });

  test('--xla graph replay against eager steps, with an eager step of another batch between replays', () => {
    if (skipped()) return;
    const r = section('graph');
    expect(failures(r)).toEqual([]);
    expect(r.summary.pass).toBeGreaterThanOrEqual(3);
  });

  test('NCCL flat all-reduce with one rank; the communicator is destroyed at the end, after the last all-reduce', () => {
    if (skipped()) return;
    const log = path.join(tmp, 'nccl.log');
    const r = section('nccl', { VNET_FAKE_NCCL_LOG: log });
    expect(failures(r)).toEqual([]);
    expect(r.summary.pass).toBe(1);
    expect(fs.readFileSync(log, 'utf8').trim().split('\n')).toEqual(['ncclGetUniqueId', 'ncclCommInitRank', 'ncclAllReduce', 'ncclAllReduce', 'ncclCommDestroy']);
  });

  test('the caching allocator stays flat over repeated steps', () => {
    if (skipped()) return;
    const r = section('memory');
    expect(failures(r)).toEqual([]);
    expect(r.summary.pass).toBe(1);
  });
});

test('the GPU peak: at the maximum boost clock by default, at a measured clock when VNET_GPU_CLOCK_MHZ gives one', () => {
  if (skipped()) return;
  const code = `const a = require(${JSON.stringify(HOST)}); console.log(JSON.stringify(a.gpuPeak()));`;
  const peak = (extra: Record<string, string>) => JSON.parse(spawnSync(process.execPath, ['-e', code], { env: hostEnv(extra), encoding: 'utf8' }).stdout);
  // The shim plays one sm_90 SM whose maximum clock is 1980 MHz: fp16 tensor cores 4096 FLOP per clock.
  const max = peak({});
  expect(max).toMatchObject({ computeCapability: '9.0', sms: 1, clockMHz: 1980, maxClockMHz: 1980, clockSource: 'max' });
  expect(max.fp16).toBeCloseTo(4096 * 1.98, 6);
  const sustained = peak({ VNET_GPU_CLOCK_MHZ: '1830' });
  expect(sustained).toMatchObject({ clockMHz: 1830, maxClockMHz: 1980, clockSource: 'VNET_GPU_CLOCK_MHZ' });
  expect(sustained.fp16).toBeCloseTo(4096 * 1.83, 6);
  expect(sustained.tf32).toBeCloseTo(2048 * 1.83, 6);
});
