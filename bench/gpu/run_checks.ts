// Jest-free GPU checks for the GPU machine (no Node toolchain there, only the bundled binary),
// one section per process so a sticky CUDA error (the context is dead for the rest of the
// process) costs only its own section: node run_checks.js <section> [--device cuda|cpu]
//   conv    the op table's convolutions (fprop, dgrad, wgrad; f32 and f16) against the CPU oracle
//   ops     the rest of the op table (both sections add the table's tails and odd shapes)
//   golden  a small V-Net, CPU against the device (loss, gradients, changes over steps)
//   graph   --xla's CUDA Graph against eager steps (deterministic algorithms), an eager step between replays
//   nccl    the flat all-reduce with one rank
//   memory  the caching allocator stays flat over repeated ops
// Each check prints one PASS/FAIL line as it finishes; the section stops at the first sticky
// error (a failed check after which a tiny copy to and from the device fails too) and names it.
// Last line: "@@ {json}" with the section's counts, for check.sh's results.jsonl.
// Exit status: 0 all passed, 1 failures, 3 stopped by a sticky error. --device cpu runs the
// same harness CPU against CPU (check.sh --dry-run); graph, nccl and memory need CUDA.
import { native } from '../../bindings/native.js';
// The op table and the golden V-Net live with the tests (test/ops/); this runner drives them.
import { runCase } from '../../test/ops/parity.js';
import { OP_CASES, TAIL_CASES } from '../../test/ops/table.js';
import { goldenVNet, graphVsEager } from '../../test/ops/golden.js';

type Device = 'cpu' | 'cuda';
interface Check { name: string; pass: boolean; line: string }

const errText = (e: unknown) => (e instanceof Error ? `${(e as Error & { code?: string }).code ?? 'Error'}: ${e.message}` : String(e));

/** A 4-float round trip through the device: throws once the CUDA context is poisoned. */
function probe(device: Device): string | undefined {
  try {
    const t = native.fromArray(new Float32Array([1, 2, 3, 4]), [4], 'f32', device);
    const back = native.toArray(t.handle);
    native.dispose(t.handle);
    native.sync();
    return back[3] === 4 ? undefined : 'round trip returned wrong values';
  } catch (e) {
    return errText(e);
  }
}

function* opChecks(device: Device, convs: boolean): Generator<Check> {
  for (const c of [...OP_CASES, ...TAIL_CASES]) {
    if (c.op.startsWith('conv') !== convs) continue;
    for (const p of c.precisions) {
      const r = runCase(native, c, p, device);
      yield { name: `${r.name} ${r.precision}`, pass: r.pass,
        line: `${r.name.padEnd(26)} ${r.precision} err=${r.err.toExponential(2)} tol=${r.tol}${r.detail ? `  ${r.detail}` : ''}` };
    }
  }
}

function* goldenChecks(results: () => { name: string; err: number; tol: number; pass: boolean }[]): Generator<Check> {
  for (const r of results()) yield { name: r.name, pass: r.pass, line: `${r.name} err=${r.err.toExponential(2)} tol=${r.tol}` };
}

function* ncclCheck(): Generator<Check> {
  native.ncclInit(0, 1, native.ncclUniqueId());
  const vals = [new Float32Array([1, 2, 3]), Float32Array.from({ length: 1000 }, (_, i) => i * 0.5), new Float32Array([-7])];
  const ts = vals.map((v) => native.fromArray(v, [v.length], 'f32', 'cuda'));
  native.ncclAllReduceFlat(ts.map((t) => t.handle), true);
  native.ncclAllReduceFlat(ts.map((t) => t.handle), false);
  let err = 0;
  ts.forEach((t, i) => { (native.toArray(t.handle) as Float32Array).forEach((x, j) => { err = Math.max(err, Math.abs(x - vals[i][j])); }); });
  for (const t of ts) native.dispose(t.handle);
  native.ncclFinalize();
  yield { name: 'nccl flat all-reduce (1 rank)', pass: err === 0, line: `nccl flat all-reduce (1 rank) err=${err}` };
}

function* memoryCheck(): Generator<Check> {
  const x = native.fromArray(new Float32Array(2 * 16 * 16 * 16 * 16).fill(0.5), [2, 16, 16, 16, 16], 'f32', 'cuda');
  const w = native.fromArray(new Float32Array(27 * 16 * 32).fill(0.01), [3, 3, 3, 16, 32], 'f32', 'cuda');
  const step = () => {
    const outs = native.run('conv3d_fprop', [x.handle, w.handle], { pad: [1, 1, 1], pad_back: [1, 1, 1] });
    const r = native.run('relu', [outs[0].handle]);
    const s = native.run('sum_all', [r[0].handle]);
    for (const t of [...outs, ...r, ...s]) native.dispose(t.handle);
  };
  try {
    for (let i = 0; i < 5; i++) step();
    native.sync();
    const m0 = native.memory().cuda;
    for (let i = 0; i < 200; i++) step();
    native.sync();
    const m1 = native.memory().cuda;
    const flat = m1.bytes === m0.bytes && m1.bytes + m1.cachedBytes <= m0.bytes + m0.cachedBytes;
    yield { name: 'memory_flat', pass: flat, line: `memory_flat            live ${m0.bytes}->${m1.bytes} B, cached ${m0.cachedBytes}->${m1.cachedBytes} B` };
  } finally {
    native.dispose(x.handle);
    native.dispose(w.handle);
  }
}

const SECTIONS: Record<string, { cudaOnly: boolean; checks: (d: Device) => Iterable<Check> | Promise<Iterable<Check>> }> = {
  conv: { cudaOnly: false, checks: (d) => opChecks(d, true) },
  ops: { cudaOnly: false, checks: (d) => opChecks(d, false) },
  golden: { cudaOnly: false, checks: (d) => goldenChecks(() => goldenVNet(3, d)) },
  graph: { cudaOnly: true, checks: async () => { const r = await graphVsEager(); return goldenChecks(() => r); } },
  nccl: { cudaOnly: true, checks: () => ncclCheck() },
  memory: { cudaOnly: true, checks: () => memoryCheck() },
};

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const section = args[0] ?? '';
  const di = args.indexOf('--device');
  const device: Device = di >= 0 && args[di + 1] === 'cpu' ? 'cpu' : 'cuda';
  const spec = SECTIONS[section];
  if (!spec) {
    console.log(`usage: run_checks.js <${Object.keys(SECTIONS).join('|')}> [--device cuda|cpu]`);
    return 2;
  }
  const summary = { section, device, pass: 0, fail: 0, failed: [] as string[], sticky: undefined as undefined | { check: string; error: string }, seconds: 0 };
  const done = (rc: number) => {
    console.log(`@@ ${JSON.stringify(summary)}`);
    return rc;
  };
  const t0 = performance.now();
  const info = native.info();
  console.log(`== section ${section} on ${device} (cudaCompiled=${info.cudaCompiled} cudaAvailable=${info.cudaAvailable}` +
    `${info.cudaUnavailableReason ? `: ${info.cudaUnavailableReason}` : ''}; CUDA_LAUNCH_BLOCKING=${process.env.CUDA_LAUNCH_BLOCKING ?? 'unset'})`);
  if (device === 'cpu' && spec.cudaOnly) {
    console.log(`SKIP ${section}: needs CUDA`);
    return done(0);
  }
  try {
    if (device === 'cuda') {
      if (!info.cudaAvailable) throw new Error(`no CUDA device: ${info.cudaUnavailableReason ?? 'unknown'}`);
      native.initCuda(0);
    }
    // The section's checks one by one: a thrown check is a failure, then the probe decides
    // whether the context survived it.
    const it = (await spec.checks(device))[Symbol.iterator]();
    for (let last = 'start of section'; ;) {
      let r: IteratorResult<Check>;
      try {
        r = it.next();
      } catch (e) {
        summary.fail++;
        summary.failed.push(`${section} after ${last}`);
        console.log(`FAIL ${section} (after ${last}): ${errText(e)}`);
        const dead = probe(device);
        if (dead) summary.sticky = { check: `after ${last}`, error: errText(e) };
        break; // a generator that threw cannot resume
      }
      if (r.done) break;
      const c = r.value;
      last = c.name;
      if (c.pass) summary.pass++;
      else {
        summary.fail++;
        summary.failed.push(c.name);
      }
      console.log(`${c.pass ? 'PASS' : 'FAIL'} ${c.line}`);
      if (!c.pass) {
        const dead = probe(device);
        if (dead) {
          summary.sticky = { check: c.name, error: `${c.line.trim()} | probe: ${dead}` };
          break;
        }
      }
    }
  } catch (e) {
    summary.fail++;
    summary.failed.push(`${section} setup`);
    console.log(`FAIL ${section} setup: ${errText(e)}`);
  }
  summary.seconds = Math.round((performance.now() - t0) / 100) / 10;
  summary.failed = summary.failed.slice(0, 12);
  if (summary.sticky) console.log(`STICKY ${section}: stopped at ${summary.sticky.check}: ${summary.sticky.error}`);
  console.log(`== section ${section}: ${summary.pass} passed, ${summary.fail} failed in ${summary.seconds} s`);
  return done(summary.sticky ? 3 : summary.fail ? 1 : 0);
}

process.exitCode = await main();
