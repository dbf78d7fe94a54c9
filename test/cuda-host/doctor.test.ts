// `vnet-native doctor` as a user reads it, on the host shim (whose runtime can play a machine
// with a driver, an old driver or none) with the stand-in NVIDIA libraries: everything found,
// each library missing, libraries found in a pip wheel layout under VNET_LIB_ROOT, and an old
// driver. Every missing piece's block ends with the line that installs it; nothing prints as
// null or undefined.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DIST, FAKES, hostEnv, skipHost } from './helpers.js';
import { DRIVER_INSTALL, LIBRARIES } from '../../src/cli/doctor.js';

function doctor(extra: Record<string, string>, unset: string[] = []): { code: number | null; lines: string[]; text: string } {
  const env = hostEnv(extra);
  for (const k of unset) delete env[k];
  const r = spawnSync(process.execPath, [path.join(DIST, 'src', 'cli', 'main.js'), 'doctor'], { env, encoding: 'utf8', timeout: 60000 });
  const text = r.stdout + r.stderr;
  return { code: r.status, lines: r.stdout.split('\n').filter(Boolean), text };
}

const clean = (text: string) => expect(text).not.toMatch(/\bnull\b|undefined|NaN|\[object/);

/** The block that starts with `head`: the lines indented deeper, and its `install:` line. */
function block(lines: string[], head: RegExp): string[] {
  const i = lines.findIndex((l) => head.test(l));
  if (i < 0) return [];
  const depth = lines[i].search(/\S/);
  let j = i + 1;
  while (j < lines.length && (lines[j].search(/\S/) > depth || /^\s+install:/.test(lines[j]))) j++;
  return lines.slice(i, j);
}

test('everything present: driver ok, the GPU, each library with its version and path', () => {
  if (skipHost()) return;
  const r = doctor({});
  expect(r.code).toBe(0);
  clean(r.text);
  expect(r.text).toMatch(/CUDA backend: compiled \(CUDA 13\.0 runtime/);
  expect(r.text).toMatch(/NVIDIA driver: supports CUDA 13\.0 \(ok; needs CUDA 13: driver branch 580 or newer\)/);
  expect(r.text).toMatch(/GPU 0: vnet host shim \(CPU\), sm_90, 1 SMs, 4\.0 GiB \(4\.0 GiB free\)/);
  expect(r.text).toContain(`cuDNN   9.10.0   ${FAKES}/libcudnn.so.9`);
  expect(r.text).toContain(`cuBLAS  13.0.0   ${FAKES}/libcublas.so.13`);
  expect(r.text).toContain(`NCCL    2.27.7   ${FAKES}/libnccl.so.2`);
  expect(r.text).toContain(`NVRTC   13.0     ${FAKES}/libnvrtc.so.13`);
  expect(r.text).not.toContain('install:');
  expect(r.lines[r.lines.length - 1]).toBe('  GPU: usable (--device cuda)');
});

test('each missing library: what it wants, where it looked, and last the line that installs it', () => {
  if (skipHost()) return;
  const r = doctor({ VNET_CUDNN_PATH: '/nonexistent/cudnn', VNET_CUBLAS_PATH: '/nonexistent/cublas', VNET_NCCL_PATH: '/nonexistent/nccl', VNET_NVRTC_PATH: '/nonexistent/nvrtc' });
  expect(r.code).toBe(0);
  clean(r.text);
  for (const l of LIBRARIES) {
    const b = block(r.lines, new RegExp(`^ {4}${l.name} +missing`));
    expect(b[0]).toContain(`wants ${l.wants}`);
    expect(b.join('\n')).toContain(l.env);
    expect(b[b.length - 1]).toBe(`    install: ${l.pip}`);
  }
});

test('libraries in a pip wheel layout under VNET_LIB_ROOT are found there (no env paths)', () => {
  if (skipHost()) return;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vnet-doctor-'));
  try {
    const site = path.join(root, 'opt/torch/.venv/lib/python3.12/site-packages/nvidia');
    for (const [dir, file] of [['cudnn', 'libcudnn.so.9'], ['cu13', 'libcublas.so.13'], ['nccl', 'libnccl.so.2']]) {
      fs.mkdirSync(path.join(site, dir, 'lib'), { recursive: true });
      fs.copyFileSync(path.join(FAKES, file), path.join(site, dir, 'lib', file));
    }
    const r = doctor({ VNET_LIB_ROOT: root, HOME: root }, ['VNET_LIB_SEARCH', 'VNET_CUDNN_PATH', 'VNET_CUBLAS_PATH', 'VNET_NCCL_PATH', 'VNET_NVRTC_PATH']);
    clean(r.text);
    expect(r.text).toContain(`cuDNN   9.10.0   ${site}/cudnn/lib/libcudnn.so.9`);
    expect(r.text).toContain(`cuBLAS  13.0.0   ${site}/cu13/lib/libcublas.so.13`);
    expect(r.text).toContain(`NCCL    2.27.7   ${site}/nccl/lib/libnccl.so.2`);
    // NVRTC is absent from the tree: its block ends with its install line.
    const b = block(r.lines, /^ {4}NVRTC +missing/);
    expect(b[b.length - 1]).toBe('    install: pip install nvidia-cuda-nvrtc');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a driver too old for CUDA 13 (an R570 driver): said plainly, GPU not usable, the install line last', () => {
  if (skipHost()) return;
  const r = doctor({ VNET_HOST_CUDA_DRIVER: '12080' });
  expect(r.code).toBe(0);
  clean(r.text);
  const b = block(r.lines, /^ {2}NVIDIA driver:/);
  expect(b[0]).toBe('  NVIDIA driver: too old: supports CUDA 12.8; this build needs CUDA 13: driver branch 580 or newer');
  expect(b[b.length - 1]).toBe(`    install: ${DRIVER_INSTALL}`);
  expect(r.text).not.toMatch(/GPU 0:/);
  expect(r.lines[r.lines.length - 1]).toMatch(/^ {2}GPU: not usable: NVIDIA driver too old: it supports CUDA 12\.8; this build of vnet-native uses the CUDA 13 runtime and needs an NVIDIA driver of branch 580 or newer$/);
});

test('no driver at all: said plainly, with the install line', () => {
  if (skipHost()) return;
  const r = doctor({ VNET_HOST_CUDA_DRIVER: '0' });
  clean(r.text);
  const b = block(r.lines, /^ {2}NVIDIA driver:/);
  expect(b[0]).toMatch(/none found \(no loadable libcuda\.so\.1\)/);
  expect(b[b.length - 1]).toBe(`    install: ${DRIVER_INSTALL}`);
  expect(r.text).toMatch(/GPU: not usable: no NVIDIA driver/);
});
