// The CUDA backend against the CPU oracle (every op in the table of test/ops/table.ts, per
// precision), memory that stays flat over many steps, and the errors for a missing GPU or
// library. Without a GPU each GPU test prints "skipped: no CUDA device (<reason>)"; the
// doctor, registration and library-error tests run everywhere.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import { native } from '../bindings/native.js';
import { runAll, runCase } from './ops/parity.js';
import { OP_CASES } from './ops/table.js';

const info = native.info();
const gpuReason = !info.cudaCompiled
  ? 'the addon was built without CUDA'
  : !info.cudaAvailable
    ? (info.cudaUnavailableReason ?? 'unknown reason')
    : '';
const haveGpu = gpuReason === '';

function skipNoGpu(): boolean {
  if (haveGpu) return false;
  console.log(`skipped: no CUDA device (${gpuReason})`);
  return true;
}

const addonPath = process.env.VNET_ADDON ? resolve(process.env.VNET_ADDON) : resolve('build/Release/vnet_native.node');

/** Runs a CommonJS snippet with the addon as `a` in a fresh process with extra env vars. */
function child(code: string, env: Record<string, string>): { status: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['-e', `const a = require(${JSON.stringify(addonPath)});\n${code}`], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120000,
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

describe('CUDA backend (runs everywhere)', () => {
  test('doctor() returns parseable JSON describing driver, GPUs and libraries', () => {
    const d = JSON.parse(native.doctor());
    expect(typeof d.compiled).toBe('boolean');
    if (!d.compiled) return;
    expect(typeof d.runtime).toBe('string');
    expect(Array.isArray(d.gpus)).toBe(true);
    for (const lib of ['cudnn', 'cublas', 'nccl']) {
      expect(typeof d[lib].found).toBe('boolean');
      if (!d[lib].found) expect(d[lib].error).toMatch(/could not be loaded|version|lacks/);
    }
    if (!d.available) expect(typeof d.reason).toBe('string');
  });

  test('info().cudaCompiled is true exactly when the addon was built with nvcc', () => {
    // The addon sits in <build dir>/Release/; that build dir's cache says how it was configured.
    const cache = resolve(dirname(dirname(addonPath)), 'CMakeCache.txt');
    if (!existsSync(cache)) {
      console.log(`skipped: no CMakeCache.txt beside ${addonPath} (cannot tell how it was configured)`);
      return;
    }
    const text = readFileSync(cache, 'utf8');
    const m = /^CMAKE_CUDA_COMPILER:\w+=(.*)$/m.exec(text);
    const withNvcc = !!m && m[1] !== '' && !m[1].endsWith('NOTFOUND') && !/^VNET_CUDA:\w+=OFF$/m.test(text);
    expect(info.cudaCompiled).toBe(withNvcc);
  });

  test('every op has a CUDA kernel when CUDA is compiled in', () => {
    if (!info.cudaCompiled) return void console.log('skipped: addon built without CUDA');
    const missing = native.ops().filter((o) => !o.cuda).map((o) => o.name);
    expect(missing).toEqual([]);
  });

  test('coverage: every native op has a parity case in the op table', () => {
    const covered = new Set(OP_CASES.map((c) => c.op));
    expect(native.ops().map((o) => o.name).filter((n) => !covered.has(n))).toEqual([]);
  });

  test('the parity harness itself: every case passes CPU against CPU (fp16 storage against the f32 oracle)', () => {
    const res = runAll(native, undefined, 'cpu');
    expect(res.length).toBeGreaterThan(60);
    expect(res.filter((r) => !r.pass).map((r) => `${r.name} ${r.precision}: ${r.err} ${r.detail ?? ''}`)).toEqual([]);
  });

  test('asking for cuda without a usable GPU is a clear VNET_E_DEVICE error', () => {
    if (haveGpu) return void console.log('skipped: a GPU is present');
    let err: (Error & { code?: string }) | undefined;
    try {
      native.fromArray(new Float32Array(4), [4], 'f32', 'cuda');
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe('VNET_E_DEVICE');
    expect(err?.message).toMatch(/CUDA|cuda/);
  });

  test('a missing library is reported with its name, the paths tried and the version needed', () => {
    if (!info.cudaCompiled) return void console.log('skipped: addon built without CUDA');
    const env = {
      VNET_LIB_SEARCH: 'env',
      VNET_CUDNN_PATH: '/nonexistent/cudnn/libcudnn.so.9',
      VNET_CUBLAS_PATH: '/nonexistent/cublas',
      VNET_NCCL_PATH: '/nonexistent/libnccl.so.2',
    };
    const r = child('process.stdout.write(a.doctor())', env);
    expect(r.status).toBe(0);
    const d = JSON.parse(r.out);
    expect(d.cudnn.found).toBe(false);
    expect(d.cudnn.error).toContain('cuDNN');
    expect(d.cudnn.error).toContain('/nonexistent/cudnn/libcudnn.so.9');
    expect(d.cudnn.error).toContain('>= 8.0');
    expect(d.cublas.error).toContain('/nonexistent/cublas');
    expect(d.nccl.error).toContain('NCCL');
    if (!haveGpu) return;
    // With a GPU the conv itself must fail with VNET_E_LIBRARY (never a crash or a CPU fallback).
    const conv = child(
      `const x = a.fromArray(new Float32Array(2*4*4*4*2), [2,4,4,4,2], 'f32', 'cuda');
       const w = a.fromArray(new Float32Array(27*2*3), [3,3,3,2,3], 'f32', 'cuda');
       try { a.run('conv3d_fprop', [x.handle, w.handle], { pad: [1,1,1], pad_back: [1,1,1] }); console.log('NO ERROR'); }
       catch (e) { console.log(e.code + ' ' + e.message); }`,
      env,
    );
    expect(conv.out).toMatch(/^VNET_E_LIBRARY .*cuDNN/);
  });
});

describe('CUDA ops vs the CPU oracle', () => {
  for (const c of OP_CASES)
    for (const p of c.precisions)
      test(`${c.name} ${p}`, () => {
        if (skipNoGpu()) return;
        const r = runCase(native, c, p);
        if (!r.pass) throw new Error(`${c.name} ${p}: error ${r.err} > tolerance ${r.tol} ${r.detail ?? ''}`);
      });
});

describe('CUDA memory', () => {
  test('device memory stays flat over many training-like steps', () => {
    if (skipNoGpu()) return;
    const x = native.fromArray(new Float32Array(2 * 8 * 8 * 8 * 16).map((_, i) => Math.sin(i)), [2, 8, 8, 8, 16], 'f32', 'cuda');
    const w = native.fromArray(new Float32Array(125 * 16 * 16).map((_, i) => Math.cos(i) * 0.05), [5, 5, 5, 16, 16], 'f32', 'cuda');
    const b = native.fromArray(new Float32Array(16), [16], 'f32', 'cuda');
    const g = native.fromArray(new Float32Array(16).fill(1), [16], 'f32', 'cuda');
    const rm = native.fromArray(new Float32Array(16), [16], 'f32', 'cuda');
    const rv = native.fromArray(new Float32Array(16).fill(1), [16], 'f32', 'cuda');
    const step = () => {
      const [y] = native.run('conv3d_fprop', [x.handle, w.handle], { pad: [2, 2, 2], pad_back: [2, 2, 2] });
      const [z] = native.run('bias_add', [y.handle, b.handle]);
      const [bn, mean, inv] = native.run('batchnorm_train', [z.handle, g.handle, b.handle, rm.handle, rv.handle]);
      const [r] = native.run('relu', [bn.handle]);
      const [dx] = native.run('conv3d_dgrad', [r.handle, w.handle], { pad: [2, 2, 2], in_shape: [8, 8, 8] });
      const [dw] = native.run('conv3d_wgrad', [x.handle, r.handle], { pad: [2, 2, 2], ksize: [5, 5, 5] });
      for (const t of [y, z, bn, mean, inv, r, dx, dw]) native.dispose(t.handle);
    };
    for (let i = 0; i < 5; i++) step();
    native.sync();
    const before = native.memory().cuda;
    for (let i = 0; i < 100; i++) step();
    native.sync();
    const after = native.memory().cuda;
    expect(after.tensors).toBe(before.tensors);
    expect(after.bytes).toBe(before.bytes);
    expect(after.bytes + after.cachedBytes).toBeLessThanOrEqual(before.bytes + before.cachedBytes);
    for (const t of [x, w, b, g, rm, rv]) native.dispose(t.handle);
  });
});
