// The GPU check harness on this CPU machine: `bench/gpu/check.sh --dry-run` (the same steps on
// the CPU, tiny sizes, GPU-only steps skipped with the reason) must leave the $OUT files the GPU
// run returns and show the GPU plan, whose boxes fit the 300 s budget (a plan that does not is a
// failed dry run); a short deadline skips steps with the reason; and the addon's library search
// finds the CUDA 13 wheel layout in a fake tree and preloads cuBLASLt, NVRTC and cuDNN's
// sub-libraries (RTLD_GLOBAL) before cuDNN itself.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { native } from '../bindings/native.js';

interface Row { step: string; status: string; rc: number | null; seconds: number; box: number; reason: string; data: Record<string, unknown>[] }

function dryRun(extra: string[], env: Record<string, string> = {}): { status: number | null; out: string; dir: string; rows: Row[]; files: string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vnet-gpucheck-'));
  const base = { ...process.env };
  delete base.VNET_GPU_PLAN;
  const r = spawnSync('bash', ['bench/gpu/check.sh', '--dry-run', ...extra], { env: { ...base, OUT: dir, ...env }, encoding: 'utf8', timeout: 300000 });
  const rows = fs.existsSync(path.join(dir, 'results.jsonl'))
    ? fs.readFileSync(path.join(dir, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Row) : [];
  return { status: r.status, out: r.stdout + r.stderr, dir, rows, files: fs.readdirSync(dir) };
}

describe('check.sh --dry-run', () => {
  let run: ReturnType<typeof dryRun>;
  beforeAll(() => { run = dryRun([]); }, 320000);
  afterAll(() => fs.rmSync(run.dir, { recursive: true, force: true }));
  const row = (name: string) => run.rows.find((r) => r.step === name);

  test('writes results.jsonl, summary.txt, all.log and doctor.json, at most 8 files', () => {
    expect(run.status).toBe(0);
    for (const f of ['results.jsonl', 'summary.txt', 'all.log', 'doctor.json']) expect(run.files).toContain(f);
    expect(run.files.length).toBeLessThanOrEqual(8);
    const summary = fs.readFileSync(path.join(run.dir, 'summary.txt'), 'utf8');
    for (const r of run.rows) expect(summary).toContain(r.step);
    expect(fs.readFileSync(path.join(run.dir, 'all.log'), 'utf8')).toContain('===== train_tf32');
  });

  test('the plan: printed, its boxes summed and within the 300 s budget, run in its order', () => {
    const plan = row('plan');
    const p = plan?.data[0] as { sum: number; budget: number; steps: { step: string; box: number }[] };
    expect(plan?.status).toBe('PASS');
    expect(p.budget).toBe(300);
    expect(p.sum).toBe(p.steps.reduce((a, x) => a + x.box, 0));
    expect(p.sum).toBeLessThanOrEqual(300);
    expect(p.steps.map((x) => x.step)).toEqual(['unpack', 'preflight', 'doctor', 'conv_smoke', 'checks_ops', 'golden', 'graph', 'nccl', 'dataset',
      'train_amp', 'train_tf32', 'peer', 'compare']);
    expect(fs.readFileSync(path.join(run.dir, 'all.log'), 'utf8')).toMatch(new RegExp(`plan \\(boxes, seconds\\): unpack 10, preflight 10, .* = ${p.sum} s of 300 s`));
    // Each planned step is recorded with its planned box.
    for (const x of p.steps) expect(row(x.step)?.box).toBe(x.box);
  });

  test('steps come in order of value, each recorded with status, seconds and box', () => {
    const names = run.rows.map((r) => r.step);
    const order = ['plan', 'unpack', 'preflight', 'doctor', 'conv_smoke', 'checks_ops', 'golden', 'graph', 'nccl', 'dataset', 'train_amp', 'train_tf32',
      'peer', 'compare', 'memory', 'api_check', 'conv_table', 'train_xla', 'infer_amp', 'infer_tf32', 'train_fp32', 'dice_fp32', 'dice_amp', 'dice_pair'];
    const at = order.map((n) => names.indexOf(n));
    expect(at.filter((i) => i < 0)).toEqual([]);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    for (const r of run.rows) {
      expect(typeof r.seconds).toBe('number');
      expect(typeof r.box).toBe('number');
    }
  });

  test('GPU-only steps are skipped with the reason; nothing else fails', () => {
    for (const n of ['peer', 'graph', 'nccl', 'memory']) {
      expect(row(n)?.status).toBe('skipped');
      expect(row(n)?.reason).toMatch(/GPU-only/);
    }
    // The conv table runs one layer on the CPU where the bundle has `bench conv`.
    const conv = row('conv_table');
    if (conv?.status === 'skipped') expect(conv.reason).toMatch(/no 'bench conv' command/);
    else {
      expect(conv?.status).toBe('ok');
      const lines = fs.readFileSync(path.join(run.dir, 'conv.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.length).toBe(conv?.data[0]?.rows);
      expect(lines[0].ms_median).toBeGreaterThan(0);
    }
    expect(run.rows.filter((r) => r.status === 'fail' || r.status === 'timeout').map((r) => `${r.step}: ${r.reason}`)).toEqual([]);
  });

  test('key numbers: throughput of each benchmark, check counts, the Dice pair', () => {
    for (const n of ['train_fp32', 'train_tf32', 'train_amp', 'train_xla', 'infer_tf32', 'infer_amp'])
      expect(row(n)?.data[0]?.images_per_s).toBeGreaterThan(0);
    for (const n of ['conv_smoke', 'checks_ops', 'golden']) {
      expect(row(n)?.data[0]?.pass).toBeGreaterThan(0);
      expect(row(n)?.data[0]?.fail).toBe(0);
    }
    const d = row('dice_pair')?.data[0] as { fp32: number; amp: number } | undefined;
    expect(typeof d?.fp32).toBe('number');
    expect(typeof d?.amp).toBe('number');
    expect(JSON.stringify(row('doctor')?.data[0])).toContain('cudnn');
    // No peer on the CPU: the comparison lists our numbers (AMP, TF32) with no ratio.
    expect((row('compare')?.data[0]?.rows as { ratio: unknown }[]).map((x) => x.ratio)).toEqual([null, null]);
  });
});

test('a plan whose boxes exceed the 300 s budget fails the dry run before any step', () => {
  const r = dryRun([], { VNET_GPU_PLAN: 'unpack:10 preflight:10 doctor:15 conv_smoke:200 checks_ops:100' });
  try {
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/the planned boxes \(335 s\) exceed the 300 s budget/);
    expect(r.rows.map((x) => `${x.step} ${x.status}`)).toEqual(['plan FAIL']);
  } finally {
    fs.rmSync(r.dir, { recursive: true, force: true });
  }
});

test('a deadline shorter than the boxes skips every step with the time left, and still writes the table', () => {
  const r = dryRun(['--deadline', '3']);
  try {
    expect(r.status).toBe(0);
    const timed = r.rows.filter((x) => x.status === 'skipped' && /time left/.test(x.reason)).map((x) => x.step);
    expect(timed).toEqual(expect.arrayContaining(['preflight', 'dataset', 'checks_ops', 'golden']));
    // Without the dataset its users are skipped, saying so.
    expect(r.rows.find((x) => x.step === 'train_tf32')?.reason).toMatch(/no synthetic dataset/);
    expect(r.rows.filter((x) => x.status === 'ok').map((x) => x.step)).toEqual([]);
    expect(fs.readFileSync(path.join(r.dir, 'summary.txt'), 'utf8')).toMatch(/train_tf32 +skipped/);
  } finally {
    fs.rmSync(r.dir, { recursive: true, force: true });
  }
});

describe('library search in a fake CUDA 13 wheel tree (VNET_LIB_ROOT)', () => {
  const cc = ['cc', 'gcc'].find((c) => spawnSync(c, ['--version']).status === 0);
  const why = !native.info().cudaCompiled ? 'the addon was built without CUDA' : !cc ? 'no C compiler to build the fake libraries' : '';

  test('finds nvidia/cu13 and nvidia/cudnn under /opt/torch/.venv; preloads before cuDNN', () => {
    if (why) return void console.log(`skipped: ${why}`);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vnet-libroot-'));
    try {
      const site = path.join(root, 'opt/torch/.venv/lib/python3.12/site-packages/nvidia');
      const so = (dir: string, name: string, src: string) => {
        fs.mkdirSync(path.join(site, dir, 'lib'), { recursive: true });
        const c = path.join(root, `${name}.c`);
        fs.writeFileSync(c, src);
        // With its soname, as NVIDIA's files: a later dlopen by bare soname finds the loaded copy.
        const r = spawnSync(cc!, ['-shared', '-fPIC', `-Wl,-soname,${name}`, '-o', path.join(site, dir, 'lib', name), c, '-ldl'], { encoding: 'utf8' });
        expect(r.stderr).toBe('');
      };
      so('cu13', 'libcublasLt.so.13', 'unsigned long cublasLtGetVersion(void) { return 130100; }');
      so('cu13', 'libcublas.so.13', 'int vnet_fake_cublas;');
      so('cu13', 'libnvrtc.so.13', 'int nvrtcVersion(int* a, int* b) { *a = 13; *b = 0; return 0; }');
      so('cudnn', 'libcudnn_ops.so.9', 'int vnet_fake_ops;');
      so('cudnn', 'libcudnn_engines_tensor_ir.so.9', 'int vnet_fake_tir;');
      // cuDNN itself records, when it loads, what is already there to be found by soname.
      so('cudnn', 'libcudnn.so.9', `#define _GNU_SOURCE
        #include <dlfcn.h>
        #include <stdio.h>
        #include <stdlib.h>
        __attribute__((constructor)) static void seen(void) {
          FILE* f = fopen(getenv("FAKE_CUDNN_LOG"), "w");
          fprintf(f, "lt=%d nvrtc=%d ops=%d tir=%d\\n", dlsym(RTLD_DEFAULT, "cublasLtGetVersion") != 0,
                  dlsym(RTLD_DEFAULT, "nvrtcVersion") != 0, dlopen("libcudnn_ops.so.9", RTLD_NOW | RTLD_NOLOAD) != 0,
                  dlopen("libcudnn_engines_tensor_ir.so.9", RTLD_NOW | RTLD_NOLOAD) != 0);
          fclose(f);
        }`);
      fs.mkdirSync(path.join(site, 'nccl/lib'), { recursive: true });
      fs.writeFileSync(path.join(site, 'nccl/lib/libnccl.so.2'), ''); // present but not loadable
      const env: Record<string, string> = { ...process.env } as Record<string, string>;
      for (const k of ['LD_LIBRARY_PATH', 'VIRTUAL_ENV', 'CONDA_PREFIX', 'PYTHONPATH', 'VNET_LIB_SEARCH', 'VNET_CUDNN_PATH', 'VNET_CUBLAS_PATH', 'VNET_NCCL_PATH', 'VNET_NVRTC_PATH']) delete env[k];
      const log = path.join(root, 'cudnn.log');
      const addon = process.env.VNET_ADDON ? path.resolve(process.env.VNET_ADDON) : path.resolve('build/Release/vnet_native.node');
      const r = spawnSync(process.execPath, ['-e', `process.stdout.write(require(${JSON.stringify(addon)}).doctor())`],
        { env: { ...env, HOME: root, VNET_LIB_ROOT: root, FAKE_CUDNN_LOG: log }, encoding: 'utf8' });
      expect(r.status).toBe(0);
      const d = JSON.parse(r.stdout);
      // cuBLAS: found in nvidia/cu13/lib (the fake lacks its API), cuBLASLt preloaded with its version.
      expect(d.cublas.error).toContain(`${site}/cu13/lib/libcublas.so.13 lacks the symbol`);
      expect(d.cublas.preloaded).toEqual([{ path: `${site}/cu13/lib/libcublasLt.so.13`, version: '13.1.0' }]);
      expect(d.nvrtc).toMatchObject({ found: true, path: `${site}/cu13/lib/libnvrtc.so.13`, version: '13.0' });
      // cuDNN saw cuBLASLt, NVRTC and both sub-libraries already loaded when it was opened.
      expect(fs.readFileSync(log, 'utf8').trim()).toBe('lt=1 nvrtc=1 ops=1 tir=1');
      expect(d.cudnn.error).toContain(`${site}/cudnn/lib/libcudnn.so.9 lacks the symbol`);
      expect(d.cudnn.preloaded.map((p: { path: string }) => path.basename(p.path)))
        .toEqual(['libcublasLt.so.13', 'libnvrtc.so.13', 'libcudnn_engines_tensor_ir.so.9', 'libcudnn_ops.so.9']);
      // Everything tried lies under the fake root (no system folder, no loader cache).
      for (const lib of ['cudnn', 'cublas', 'nccl']) for (const t of d[lib].tried as string[]) expect(t.startsWith(root)).toBe(true);
      expect(d.nccl.tried.some((t: string) => t.startsWith(`${site}/nccl/lib/libnccl.so.2 (`) && !t.includes('no such'))).toBe(true);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
