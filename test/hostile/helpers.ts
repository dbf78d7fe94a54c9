// Helpers of the hostile-input suite. Every case runs in a child process (the CLI, or a few lines
// of the compiled library), so that a hang is cut by a time limit, an abort shows as a signal
// instead of killing jest, and the peak memory is known: the child reports its own VmHWM from
// /proc/self/status when it exits (getrusage's maxRSS is not used: Linux carries the forking
// parent's peak, here the jest worker's, over exec into the child's; a wrapper such as
// /usr/bin/time would be the one killed on a timeout, leaving the hung child behind). Each case then asserts: the exit code, the
// error code and that the message names the file or flag, the time, the peak memory, and that
// every file that existed before is byte-identical afterwards.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildNifti1, writeSyntheticDataset } from '../../src/data/synthetic.js';
import { repoRoot } from '../../src/data/index.js';

export const ROOT = repoRoot();
export const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
export const DIST = path.join(ROOT, 'dist', 'src');
/** Preloaded into every child: prints its peak resident memory (KiB) on exit. */
const SELF_RSS = `data:text/javascript,import fs from 'node:fs';process.on('exit',()=>process.stderr.write('VNET_MAXRSS_KB '+(/VmHWM:\\s*(\\d+)/.exec(fs.readFileSync('/proc/self/status','utf8'))||[])[1]+'\\n'))`;

export function requireBuilt(): void {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before the hostile suite`);
}

const made: string[] = [];
afterAll(() => { for (const d of made) fs.rmSync(d, { recursive: true, force: true }); });

/** A fresh temp folder, removed after the file's cases. */
export function tmp(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `vnet-hostile-${prefix}-`));
  made.push(d);
  return d;
}

export interface Outcome {
  exit: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Peak resident memory of the child in MB (undefined when it did not exit by itself). */
  rssMb?: number;
}

function run(argv: string[], opts: { env?: Record<string, string>; timeoutMs?: number; cwd?: string; input?: string }): Outcome {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [`--import=${SELF_RSS}`, ...argv], {
    encoding: 'utf8', cwd: opts.cwd ?? ROOT, input: opts.input, timeout: opts.timeoutMs ?? 60_000, killSignal: 'SIGKILL',
    env: { ...process.env, VNET_NUM_THREADS: '2', ...opts.env },
  });
  const ms = Date.now() - t0;
  const kb = Number(/VNET_MAXRSS_KB (\d+)/.exec(r.stderr ?? '')?.[1]);
  return { exit: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', ms, rssMb: kb > 0 ? kb / 1024 : undefined };
}

/** The CLI as a user runs it. */
export function cli(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {}): Outcome {
  return run([CLI, ...args], opts);
}

/**
 * A few lines of ESM against the compiled library (`D` is dist/src). The body runs in an async
 * function; whatever it throws is printed as {code, message}; a normal end prints {ok: true, value}.
 */
export function lib(body: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Outcome & { result: { ok?: boolean; value?: unknown; code?: string; message?: string } } {
  const src = `const D = ${JSON.stringify(DIST)};
try { const value = await (async () => { ${body} })(); console.log('RESULT ' + JSON.stringify({ ok: true, value })); }
catch (e) { console.log('RESULT ' + JSON.stringify({ code: e?.code, message: String(e?.message ?? e) })); }`;
  const o = run(['--input-type=module', '-e', src], opts);
  const line = o.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  return { ...o, result: line ? JSON.parse(line.slice(7)) : {} };
}

export interface Expect {
  /** Process exit code (library cases: 0, the error came back as a value). */
  exit: number;
  /** The stable error code (VNET_E_*), looked for in the message or the result. */
  code?: string;
  /** Strings the error must contain: the file or flag at fault. */
  names?: string[];
  /** Time limit for the case (ms); default 20 s (a busy 2-core machine). */
  maxMs?: number;
  /** Peak memory limit (MB); default 400. */
  maxRssMb?: number;
}

/** Asserts a refused case: exit code, error code and names, time and memory bounds. */
export function expectRefused(o: Outcome & { result?: { ok?: boolean; code?: string; message?: string } }, e: Expect): void {
  const text = o.result ? `${o.result.code ?? ''} ${o.result.message ?? ''}` : `${o.stderr}\n${o.stdout}`;
  const where = `\n--- stderr ---\n${o.stderr.slice(-2000)}\n--- stdout ---\n${o.stdout.slice(-2000)}`;
  if (o.signal) throw new Error(`killed by ${o.signal} after ${o.ms} ms${where}`);
  expect({ exit: o.exit, where }).toEqual({ exit: e.exit, where });
  if (o.result) expect(o.result.ok).toBeUndefined();
  if (e.code) expect(text).toContain(e.code);
  for (const n of e.names ?? []) expect(text).toContain(n);
  expect(o.ms).toBeLessThan(e.maxMs ?? 20_000);
  if (e.maxRssMb !== undefined) expect(o.rssMb).toBeDefined();
  if (o.rssMb !== undefined) expect(o.rssMb).toBeLessThan(e.maxRssMb ?? 400);
}

/** Every file, link and folder under `dirs` with its content hash (links: their target). */
export function fingerprint(...dirs: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink()) out.set(p, `link:${fs.readlinkSync(p)}`);
    else if (st.isDirectory()) {
      out.set(p, 'dir');
      for (const e of fs.readdirSync(p)) walk(path.join(p, e));
    } else if (st.isFile()) out.set(p, crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex'));
    else out.set(p, 'special');
  };
  for (const d of dirs) if (fs.existsSync(d) || isLink(d)) walk(d);
  return out;
}

const isLink = (p: string) => { try { return fs.lstatSync(p).isSymbolicLink(); } catch { return false; } };

/** Every entry of `before` is still there with the same content (new files are allowed). */
export function expectIntact(before: Map<string, string>): void {
  const now = fingerprint(...[...before.keys()].filter((p) => ![...before.keys()].some((q) => q !== p && p.startsWith(q + path.sep))));
  const changed = [...before].filter(([p, h]) => now.get(p) !== h).map(([p]) => p);
  expect(changed).toEqual([]);
}

/** A small NIfTI-1 volume (float32, x fastest) with `patch` applied to its header view. */
export function nifti(shape: [number, number, number] = [8, 8, 8], patch?: (dv: DataView) => void): Uint8Array {
  const data = new Float32Array(shape[0] * shape[1] * shape[2]).map((_, i) => (i % 7) / 7);
  const b = buildNifti1(shape, data);
  if (patch) patch(new DataView(b.buffer, b.byteOffset, b.byteLength));
  return b;
}

/** A tiny synthetic MSD dataset (4 labelled cases of ~16³, 2 test images). */
export function dataset(dir = tmp('data')): string {
  writeSyntheticDataset(dir, { cases: 4, testCases: 2, shape: [16, 16, 16], seed: 3 });
  return dir;
}

/** Flags of a tiny network, so that the few cases that train stay fast. */
export const TINY = ['--input_shape', '16', '16', '16', '--downscale_blocks', '1', '1', '--upscale_blocks', '1', '--batch_size', '1'];

/**
 * A stored tiny model in `modelDir` (config.json, final and latest checkpoints, split.json with
 * `evalIds`), made without training; `tweak` may edit the tensors before they are written.
 */
export function storedModel(modelDir: string, opts: { evalIds?: string[]; trainIds?: string[]; optimizer?: string; resize?: 'none' } = {}): void {
  const o = lib(`const R = await import(D + '/runner/index.js'); const N = await import(D + '/nn/index.js');
    const C = await import(D + '/infer/checkpoint.js'); const S = await import(D + '/data/index.js');
    const M = ${JSON.stringify(modelDir)};
    const cfg = { version: 1, model: R.modelConfig({ inputShape: [16, 16, 16], upscaleBlocks: [1], downscaleBlocks: [1, 1], convolutionSize: 3, resize: ${JSON.stringify(opts.resize)} }, 3),
      labels: [{ value: 0, name: 'background' }, { value: 1, name: 'Anterior' }, { value: 2, name: 'Posterior' }], loss: 'dice' };
    const net = new N.VNet(cfg.model, { device: 'cpu', seed: 1 });
    C.writeModelConfig(M, cfg);
    const state = { epoch: 1, step: 4, optimizer: ${JSON.stringify(opts.optimizer ?? 'rmsprop')}, history: { losses: [], evals: [] } };
    await C.saveCheckpoint(M, 'final', net, undefined, state);
    await C.saveCheckpoint(M, 'latest', net, undefined, state);
    S.writeSplit(M, { train: ${JSON.stringify(opts.trainIds ?? [])}.map((id) => ({ id })), eval: ${JSON.stringify(opts.evalIds ?? [])}.map((id) => ({ id })) }, { trainSplit: 0.75 });
    return 'ok';`);
  if (o.result.value !== 'ok') throw new Error(`could not store a model: ${JSON.stringify(o.result)}\n${o.stderr}`);
}

/** The case ids of a dataset's training list. */
export function trainingIds(dataDir: string): string[] {
  const j = JSON.parse(fs.readFileSync(path.join(dataDir, 'dataset.json'), 'utf8')) as { training: { image: string }[] };
  return j.training.map((t) => path.basename(t.image).replace(/\.nii(\.gz)?$/, ''));
}

/** The hard time limit of one case, however it runs (each child process also has its own). */
export const CASE_LIMIT_MS = 60_000;
