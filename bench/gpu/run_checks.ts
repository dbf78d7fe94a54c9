// Jest-free GPU checks for the GPU machine (no Node toolchain there, only the bundled binary):
// the op table of op_cases.ts on CUDA against the CPU oracle, a flat-memory check, and one
// PASS/FAIL line each. Exit status 1 when anything fails or no GPU is usable.
import { native } from '../../bindings/native.js';
import { runAll } from './op_cases.js';
import { goldenVNet, graphVsEager, type GoldenResult } from './golden.js';

async function main(): Promise<number> {
  const info = native.info();
  console.log(`vnet-native: cudaCompiled=${info.cudaCompiled} cudaAvailable=${info.cudaAvailable}` +
    (info.cudaUnavailableReason ? ` (${info.cudaUnavailableReason})` : ''));
  if (!info.cudaAvailable) {
    console.log(`FAIL no CUDA device: ${info.cudaUnavailableReason ?? 'unknown'}`);
    return 1;
  }
  native.initCuda(0);
  let fails = 0;
  const t0 = performance.now();
  for (const r of runAll(native)) {
    const tag = r.pass ? 'PASS' : 'FAIL';
    if (!r.pass) fails++;
    console.log(`${tag} ${r.name.padEnd(22)} ${r.precision} err=${r.err.toExponential(2)} tol=${r.tol}` +
      (r.detail ? `  ${r.detail}` : ''));
  }
  const report = (prefix: string, r: GoldenResult) => {
    if (!r.pass) fails++;
    console.log(`${r.pass ? 'PASS' : 'FAIL'} ${prefix}${r.name} err=${r.err.toExponential(2)} tol=${r.tol}`);
  };
  for (const r of goldenVNet()) report('golden ', r);
  // --xla: the captured training step replays like eager steps.
  try {
    for (const r of graphVsEager()) report('', r);
  } catch (e) {
    fails++;
    console.log(`FAIL graph capture: ${e instanceof Error ? e.message : String(e)}`);
  }
  // NCCL with one rank: the flat all-reduce must pack and unpack every tensor unchanged.
  try {
    native.ncclInit(0, 1, native.ncclUniqueId());
    const vals = [new Float32Array([1, 2, 3]), Float32Array.from({ length: 1000 }, (_, i) => i * 0.5), new Float32Array([-7])];
    const ts = vals.map((v) => native.fromArray(v, [v.length], 'f32', 'cuda'));
    native.ncclAllReduceFlat(ts.map((t) => t.handle), true);
    native.ncclAllReduceFlat(ts.map((t) => t.handle), false);
    let err = 0;
    ts.forEach((t, i) => { const a = native.toArray(t.handle) as Float32Array; a.forEach((x, j) => { err = Math.max(err, Math.abs(x - vals[i][j])); }); });
    for (const t of ts) native.dispose(t.handle);
    native.ncclFinalize();
    if (err !== 0) fails++;
    console.log(`${err === 0 ? 'PASS' : 'FAIL'} nccl flat all-reduce (1 rank) err=${err}`);
  } catch (e) {
    fails++;
    console.log(`FAIL nccl flat all-reduce: ${e instanceof Error ? e.message : String(e)}`);
  }
  // Memory must not grow over repeated ops once the caching allocator is warm.
  const x = native.fromArray(new Float32Array(2 * 16 * 16 * 16 * 16).fill(0.5), [2, 16, 16, 16, 16], 'f32', 'cuda');
  const w = native.fromArray(new Float32Array(27 * 16 * 32).fill(0.01), [3, 3, 3, 16, 32], 'f32', 'cuda');
  const step = () => {
    const outs = native.run('conv3d_fprop', [x.handle, w.handle], { pad: [1, 1, 1], pad_back: [1, 1, 1] });
    const r = native.run('relu', [outs[0].handle]);
    const s = native.run('sum_all', [r[0].handle]);
    for (const t of [...outs, ...r, ...s]) native.dispose(t.handle);
  };
  for (let i = 0; i < 5; i++) step();
  native.sync();
  const m0 = native.memory().cuda;
  for (let i = 0; i < 200; i++) step();
  native.sync();
  const m1 = native.memory().cuda;
  const flat = m1.bytes === m0.bytes && m1.bytes + m1.cachedBytes <= m0.bytes + m0.cachedBytes;
  if (!flat) fails++;
  console.log(`${flat ? 'PASS' : 'FAIL'} memory_flat            live ${m0.bytes}->${m1.bytes} B, cached ${m0.cachedBytes}->${m1.cachedBytes} B`);
  native.dispose(x.handle);
  native.dispose(w.handle);
  console.log(`checks: ${fails === 0 ? 'all passed' : `${fails} failed`} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return fails ? 1 : 0;
}

main().then((rc) => { process.exitCode = rc; }, (e) => { console.log(`FAIL ${e instanceof Error ? e.stack : String(e)}`); process.exitCode = 1; });
