// Hostile engine API calls: zero-size channel axes and rank-0 tensors for every per-channel op,
// a dice loss over an empty batch, shapes whose element count overflows, thread counts out of
// range, failed thread creation and setNumThreads racing ops on other threads. Each must come
// back as a JS error with a VNET_E_* code naming the op, never a signal.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CASE_LIMIT_MS, ROOT, expectRefused, lib, requireBuilt } from './helpers.js';

requireBuilt();

const E = `const E = await import(D + '/engine/index.js');
  const s = (v) => E.tensor(new Float32Array([v]), []);
  const bn = (c) => ({ gamma: E.zeros([c]), beta: E.zeros([c]), runningMean: E.zeros([c]), runningVar: E.zeros([c]) });`;

const CASES: [string, string, string][] = [
  ['softmax, C = 0', 'E.softmax(E.zeros([2, 0]))', 'softmax'],
  ['softmax, rank 0', 'E.softmax(s(1))', 'softmax'],
  ['argmax, C = 0', 'E.argmax(E.zeros([3, 0]))', 'argmax'],
  ['argmax, rank 0', 'E.argmax(s(1))', 'argmax'],
  ['bias add, C = 0', 'E.biasAdd(E.zeros([2, 0]), E.zeros([0]))', 'bias_add'],
  ['bias add, rank 0', 'E.biasAdd(s(1), E.zeros([1]))', 'bias_add'],
  ['channel sum, C = 0', "E.runOp('sum_over_rows', [E.zeros([4, 0])])", 'sum_over_rows'],
  ['sum over channels, rank 0', "E.runOp('sum_over_channels', [s(1)])", 'sum_over_channels'],
  ['batch norm (training), C = 0', 'E.batchNorm(E.zeros([2, 0]), bn(0), { training: true })', 'batchnorm_train'],
  ['batch norm (inference), rank 0', 'E.batchNorm(s(1), bn(1), { training: false })', 'batchnorm_infer'],
  ['batch norm backward, rank 0', "E.runOp('batchnorm_bwd', [s(1), s(1), E.zeros([1]), E.zeros([1]), E.zeros([1])])", 'batchnorm_bwd'],
  ['concat, C = 0', 'E.concat(E.zeros([2, 0]), E.zeros([2, 0]))', 'concat'],
  ['concat, rank 0', 'E.concat(s(1), s(2))', 'concat'],
  ['split, rank 0', 'E.split(s(1), 1)', 'split'],
  ['dice loss, batch 0', 'E.diceLoss(E.zeros([0, 4, 4, 4, 3]), E.tensor(new Int32Array(0), [0, 4, 4, 4]))', 'dice_loss'],
  ['dice loss, no classes', 'E.diceLoss(E.zeros([1, 4, 0]), E.tensor(new Int32Array(4), [1, 4]))', 'dice_loss'],
  ['add with a channel broadcast, C = 0', 'E.add(E.zeros([2, 0]), E.zeros([2, 1]))', 'add'],
];

test.each(CASES)('%s is a VNET_E_SHAPE error naming the op', (_name, call, op) => {
  expectRefused(lib(`${E} ${call};`), { exit: 0, code: 'VNET_E_SHAPE', names: [op], maxMs: 10_000, maxRssMb: 300 });
}, CASE_LIMIT_MS);

test('a shape whose element count overflows int64 is refused, not allocated small', () => {
  for (const shape of ['[2 ** 31, 2 ** 31, 2 ** 31]', '[1e12, 1e12]', '[4096, 4096, 4096, 4096, 4096]']) {
    expectRefused(lib(`${E} E.zeros(${shape});`), { exit: 0, code: 'VNET_E_SHAPE', names: ['more elements than the engine can address'], maxMs: 10_000, maxRssMb: 300 });
  }
}, CASE_LIMIT_MS);

test('setNumThreads outside 1..256, fractional, or wrapping past 2^32 is refused', () => {
  expectRefused(lib(`${E} E.useDevice({ threads: 100000 });`), { exit: 0, code: 'VNET_E_INVALID_ARG', names: ['1..256'], maxMs: 10_000 });
  const o = lib(`${E} const bad = [2 ** 32 + 2, 1.5, 0, NaN, -3].filter((n) => { try { E.useDevice({ threads: n }); return false; } catch (e) { return e.code === 'VNET_E_INVALID_ARG'; } });
    throw Object.assign(new Error('refused ' + bad.length + ' of 5; threads ' + E.info().threads), { code: 'VNET_E_INVALID_ARG' });`);
  expectRefused(o, { exit: 0, code: 'VNET_E_INVALID_ARG', names: ['refused 5 of 5; threads 2'], maxMs: 10_000 });
}, CASE_LIMIT_MS);

/** fixtures/fail_threads.c built as a preload library, or why it cannot be (no C compiler). */
function failThreadsLib(): { file?: string; why?: string } {
  const cc = ['cc', 'gcc', 'clang'].find((c) => spawnSync(c, ['--version']).status === 0);
  if (!cc) return { why: 'no C compiler (cc, gcc, clang) to build the thread-failure preload' };
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vnet-threads-')), 'fail_threads.so');
  const r = spawnSync(cc, ['-shared', '-fPIC', '-O1', '-o', file, path.join(ROOT, 'test', 'hostile', 'fixtures', 'fail_threads.c'), '-ldl'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the thread-failure preload failed:\n${r.stderr}`);
  return { file };
}

test('a failed thread creation leaves a working, smaller pool and says so (no endless wait)', () => {
  const pre = failThreadsLib();
  if (!pre.file) {
    console.log(`skipped: ${pre.why}`);
    return;
  }
  // The pool starts with one thread (VNET_NUM_THREADS=1), then asks for 8: the system refuses
  // the third new thread.
  const o = lib(`${E} let err; try { E.useDevice({ threads: 8 }); } catch (e) { err = e; }
    const n = E.info().threads;
    const y = E.softmax(E.tensor(new Float32Array(1 << 18).fill(1), [1 << 16, 4])).toArray();
    throw Object.assign(new Error(err.message + ' | threads ' + n + ' | softmax ' + y[0].toFixed(2)), { code: err.code });`,
  { env: { LD_PRELOAD: pre.file, FAIL_THREADS_AFTER: '2', VNET_NUM_THREADS: '1' } });
  expectRefused(o, { exit: 0, code: 'VNET_E_OOM', names: ['could start only 3 of 8 threads', 'threads 3', 'softmax 0.25'], maxMs: 10_000 });
}, CASE_LIMIT_MS);

test('setNumThreads racing ops on three worker threads neither deadlocks nor crashes', () => {
  const o = lib(`${E} const { Worker } = await import('node:worker_threads');
    const src = "const E = await import(" + JSON.stringify(D + '/engine/index.js') + "); const x = E.tensor(new Float32Array(1 << 18).fill(1), [1 << 16, 4]); for (let i = 0; i < 150; i++) E.softmax(x).dispose(); process.exit(0);";
    const ws = [0, 1, 2].map(() => new Worker(src, { eval: true, type: 'module' }));
    let n = 0;
    const iv = setInterval(() => E.useDevice({ threads: 1 + (n++ % 4) }), 2);
    const codes = await Promise.all(ws.map((w) => new Promise((r) => w.on('exit', r))));
    clearInterval(iv);
    throw Object.assign(new Error('exits ' + codes.join(',') + ' after ' + n + ' resizes'), { code: 'RACE_DONE' });`, { timeoutMs: 60_000 });
  expectRefused(o, { exit: 0, code: 'RACE_DONE', names: ['exits 0,0,0'], maxMs: 45_000, maxRssMb: 600 });
}, CASE_LIMIT_MS);

// Generated: every op on random shapes of rank 0..5 with sizes 0..3 (zero sizes anywhere). Each
// call returns or throws a VNET_E_* error; the child would die by a signal on an abort.
test('generated shapes for every op: a result or a VNET_E_* error, never a signal', () => {
  const FC = JSON.stringify(path.join(ROOT, 'node_modules', 'fast-check', 'lib', 'fast-check.js'));
  const o = lib(`${E} const fc = (await import(${FC})).default;
    const mk = (s, i32) => i32 ? E.tensor(new Int32Array(s.reduce((a, b) => a * b, 1)), s) : E.zeros(s);
    const st = (b) => ({ gamma: mk(b), beta: mk(b), runningMean: mk(b), runningVar: mk(b) });
    const ops = {
      softmax: (a) => E.softmax(mk(a)), argmax: (a) => E.argmax(mk(a)), relu: (a) => E.relu(mk(a)),
      bias_add: (a, b) => E.biasAdd(mk(a), mk(b)), add: (a, b) => E.add(mk(a), mk(b)), concat: (a, b) => E.concat(mk(a), mk(b)),
      split: (a, b) => E.split(mk(a), b.length), sum_over_rows: (a) => E.runOp('sum_over_rows', [mk(a)]), sum_over_channels: (a) => E.runOp('sum_over_channels', [mk(a)]),
      batchnorm_train: (a, b) => E.batchNorm(mk(a), st(b), { training: true }), batchnorm_infer: (a, b) => E.batchNorm(mk(a), st(b), { training: false }),
      batchnorm_bwd: (a, b) => E.runOp('batchnorm_bwd', [mk(a), mk(a), mk(b), mk(b), mk(b)]),
      dice_loss: (a, b) => E.diceLoss(mk(a), mk(b, true)), dice_loss_matched: (a) => E.diceLoss(mk(a), mk(a.slice(0, -1), true)),
      dice_loss_bwd: (a, b) => E.runOp('dice_loss_bwd', [mk(a), mk(a.slice(0, -1), true), mk(b), mk([1])]),
      bias_bn_relu_train: (a, b) => E.runOp('bias_bn_relu_train', [mk(a), mk(b), mk(b), mk(b), mk(b), mk(b)]),
      bias_bn_relu_bwd: (a, b) => E.runOp('bias_bn_relu_bwd', [mk(a), mk(a), mk(a), mk(b), mk(b), mk(b), mk(b)]),
      conv3d_fprop: (a, b) => E.runOp('conv3d_fprop', [mk(a), mk(b)], {}), sum_all: (a) => E.sumAll(mk(a)), cast: (a) => E.cast(mk(a), 'f16'),
    };
    const shape = fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 5 });
    let calls = 0, errors = 0;
    for (const f of Object.values(ops)) fc.assert(fc.property(shape, shape, (a, b) => {
      calls++;
      try { E.tidy(() => { f(a, b); }); } catch (e) { if (!String(e.code).startsWith('VNET_E_')) throw e; errors++; }
    }), { numRuns: 120, seed: 13 });
    throw Object.assign(new Error(calls + ' calls, ' + errors + ' refused'), { code: 'GENERATED_DONE' });`, { timeoutMs: 60_000 });
  expectRefused(o, { exit: 0, code: 'GENERATED_DONE', names: ['2400 calls'], maxMs: 45_000, maxRssMb: 400 });
}, CASE_LIMIT_MS);

test('a convolution stride past the padded input is refused before any work (dgrad looped in proportion to it)', () => {
  for (const [op, args] of [
    ['conv3d_dgrad', `[E.zeros([1, 1, 1, 1, 2]), E.zeros([2, 2, 2, 1, 2])], { stride: [1e6, 1, 1], pad: [0, 0, 0], in_shape: [4, 4, 4] }`],
    ['conv3d_dgrad', `[E.zeros([1, 1, 1, 1, 2]), E.zeros([2, 2, 2, 1, 2])], { stride: [2 ** 40, 2 ** 40, 2 ** 40], pad: [0, 0, 0], in_shape: [4, 4, 4] }`],
    ['conv3d_fprop', `[E.zeros([1, 4, 4, 4, 1]), E.zeros([2, 2, 2, 1, 2])], { stride: [1, 1e9, 1], pad: [0, 0, 0] }`],
    ['conv3d_wgrad', `[E.zeros([1, 4, 4, 4, 1]), E.zeros([1, 1, 1, 1, 2])], { stride: [1e6, 1e6, 1e6], pad: [0, 0, 0], ksize: [2, 2, 2] }`],
  ] as const) {
    expectRefused(lib(`${E} E.runOp('${op}', ${args});`, { timeoutMs: 15_000 }), { exit: 0, code: 'VNET_E_SHAPE', names: ['stride', 'is larger than the padded input'], maxMs: 10_000, maxRssMb: 300 });
  }
  // The largest stride that still fits is computed as before.
  const o = lib(`${E} return E.runOp('conv3d_dgrad', [E.zeros([1, 1, 1, 1, 2]), E.zeros([2, 2, 2, 1, 2])], { stride: [4, 4, 4], pad: [0, 0, 0], in_shape: [4, 4, 4] })[0].shape;`);
  expect(o.result).toEqual({ ok: true, value: [1, 4, 4, 4, 1] });
}, CASE_LIMIT_MS);

test('two interleaved tidyAsync calls keep each other\'s results alive, and still free what they made', () => {
  const o = lib(`${E} const tick = () => new Promise((r) => setTimeout(r, 5));
    const before = E.memory().cpu.tensors;
    const a = E.tidyAsync(async () => { E.zeros([2]); await tick(); await tick(); const r = E.fill([3], 1); await tick(); return r; });
    const b = E.tidyAsync(async () => { await tick(); const r = E.fill([3], 2); E.zeros([2]); await tick(); await tick(); await tick(); return r; });
    const [ra, rb] = await Promise.all([a, b]);
    const values = [...ra.toArray(), ...rb.toArray()].join(',');
    const live = E.memory().cpu.tensors - before;
    // Nested: a tidy inside one of them hands its result to that one only.
    const c = await E.tidyAsync(async () => { const inner = E.tidy(() => E.fill([1], 7)); await tick(); return inner; });
    return values + ' live ' + live + ' nested ' + c.toArray()[0];`);
  expect(o.result).toEqual({ ok: true, value: '1,1,1,2,2,2 live 2 nested 7' });
}, CASE_LIMIT_MS);

test('VNET_ISA with an unknown value is an error naming it; the portable FMA peak is measured, not folded away', () => {
  for (const v of ['', 'AVX512', 'avx-512', 'sse']) {
    expectRefused(lib(`await import(D + '/engine/index.js');`, { env: { VNET_ISA: v } }), { exit: 0, code: 'VNET_E_BAD_FLAG', names: [`VNET_ISA=${JSON.stringify(v)}`, 'avx512, avx2, portable'], maxMs: 10_000 });
  }
  // One thread of scalar FMA chains: a few GFLOP/s; the folded loop reported tens of thousands.
  const o = lib(`const { native } = await import(${JSON.stringify(path.join(ROOT, 'dist', 'bindings', 'native.js'))}); return native.cpuPeakGflops(1, 0.05);`, { env: { VNET_ISA: 'portable' } });
  expect(o.result.ok).toBe(true);
  expect(o.result.value).toBeGreaterThan(0.1);
  expect(o.result.value).toBeLessThan(200);
}, CASE_LIMIT_MS);
