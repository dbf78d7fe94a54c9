// `vnet-native doctor`: what this machine offers the engine, for a person. The CPU kernels in
// use, then for the GPU path the NVIDIA driver (and whether it is new enough for the CUDA 13
// runtime the addon is built with), each GPU, and cuDNN / cuBLAS / NCCL / NVRTC with version and
// path. Every missing piece ends with the line that installs it; unknown values are left out.
import os from 'node:os';
import * as E from '../engine/index.js';

type Lib = { found: boolean; path?: string; version?: string; error?: string; tried?: string[]; preloaded?: { path: string; version?: string }[] };
interface Gpu { index: number; name: string; computeCapability: string; sms: number; totalBytes: number; freeBytes?: number }
export interface DoctorReport {
  compiled: boolean; runtime?: string; minDriver?: number; driver?: string; driverRelease?: string;
  driverStatus?: 'ok' | 'too old' | 'missing'; available?: boolean; reason?: string; gpus?: Gpu[];
  cudnn?: Lib; cublas?: Lib; nccl?: Lib; nvrtc?: Lib; settings?: { tf32: boolean; deterministic: boolean; convGemm: boolean };
}

// What the addon loads (the CUDA 13 builds; the loader also takes cuDNN 8, cuBLAS 11/12) and
// how to install each: NVIDIA's Python wheels (found in site-packages without Python running,
// no root needed; a CUDA 13 PyTorch install brings all four), else NVIDIA's CUDA apt repository.
export const LIBRARIES: { key: 'cudnn' | 'cublas' | 'nccl' | 'nvrtc'; name: string; env: string; wants: string; apt: string; pip: string }[] = [
  { key: 'cudnn', name: 'cuDNN', env: 'VNET_CUDNN_PATH', wants: 'libcudnn.so.9 (cuDNN 9 for CUDA 13)', apt: 'sudo apt-get install libcudnn9-cuda-13', pip: 'pip install nvidia-cudnn-cu13' },
  { key: 'cublas', name: 'cuBLAS', env: 'VNET_CUBLAS_PATH', wants: 'libcublas.so.13 with libcublasLt.so.13', apt: 'sudo apt-get install libcublas-13-0', pip: 'pip install nvidia-cublas' },
  { key: 'nccl', name: 'NCCL', env: 'VNET_NCCL_PATH', wants: 'libnccl.so.2 (NCCL >= 2.10; only for --gpus N)', apt: 'sudo apt-get install libnccl2', pip: 'pip install nvidia-nccl-cu13' },
  { key: 'nvrtc', name: 'NVRTC', env: 'VNET_NVRTC_PATH', wants: "libnvrtc.so.13 (cuDNN's run-time compiled engines)", apt: 'sudo apt-get install cuda-nvrtc-13-0', pip: 'pip install nvidia-cuda-nvrtc' },
];
export const DRIVER_INSTALL = 'sudo apt-get install cuda-drivers   (NVIDIA\'s CUDA repository; Ubuntu: sudo apt-get install nvidia-driver-580)';
export const REBUILD_WITH_CUDA = 'VNET_BUILD_FROM_SOURCE=1 VNET_CUDA=ON npm rebuild vnet-native   (needs the CUDA 13 toolkit: nvcc)';

const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;

/** The report as text lines (pure, for tests). */
export function formatDoctor(info: Pick<E.EngineInfo, 'threads' | 'isa' | 'cudaCompiled' | 'cudaArchs' | 'cudaAvailable' | 'cudaUnavailableReason'>, doc: DoctorReport, cpu: string): string[] {
  const out = [`vnet-native doctor`, `  CPU: ${cpu}, ${info.threads} threads, kernels: ${info.isa}`];
  if (!doc.compiled) {
    out.push('  CUDA backend: not in this build of the addon (nvcc was not found when it was built)');
    out.push(`    install: ${REBUILD_WITH_CUDA}`);
    return out;
  }
  out.push(`  CUDA backend: compiled (CUDA ${doc.runtime ?? '?'} runtime, linked in; GPU code for ${info.cudaArchs || 'no architecture'})`);
  const needs = `needs CUDA ${(doc.runtime ?? '13').split('.')[0]}: driver branch ${doc.minDriver ?? 580} or newer`;
  if (doc.driverStatus === 'ok') out.push(`  NVIDIA driver: ${doc.driverRelease ? `${doc.driverRelease}, ` : ''}supports CUDA ${doc.driver} (ok; ${needs})`);
  else {
    out.push(doc.driverStatus === 'too old'
      ? `  NVIDIA driver: too old: ${doc.driverRelease ? `${doc.driverRelease}, ` : ''}supports CUDA ${doc.driver}; this build ${needs}`
      : `  NVIDIA driver: none found (no loadable libcuda.so.1); this build ${needs}`);
    if (doc.driverStatus === 'too old') out.push("    (on data-center GPUs NVIDIA's forward-compatibility package cuda-compat-13-0 also works)");
    out.push(`    install: ${DRIVER_INSTALL}`);
  }
  for (const g of doc.gpus ?? [])
    out.push(`  GPU ${g.index}: ${g.name}, sm_${g.computeCapability.replace('.', '')}, ${g.sms} SMs, ${gib(g.totalBytes)}${g.freeBytes !== undefined ? ` (${gib(g.freeBytes)} free)` : ''}`);
  out.push('  libraries (loaded at run time):');
  for (const l of LIBRARIES) {
    const lib = doc[l.key];
    if (!lib) continue;
    if (lib.found) {
      out.push(`    ${l.name.padEnd(7)} ${(lib.version ?? '').padEnd(8)} ${lib.path ?? ''}`);
      for (const p of lib.preloaded ?? []) out.push(`            + ${p.path}${p.version ? ` (${p.version})` : ''}`);
      continue;
    }
    const failed = (lib.tried ?? []).filter((t) => t.startsWith('/') && !/\(no such (file|folder)\)$/.test(t));
    out.push(`    ${l.name.padEnd(7)} missing  wants ${l.wants}`);
    out.push(`            ${(lib.tried ?? []).length} places tried${failed.length ? '; present but not loadable:' : ', none present'}`);
    for (const t of failed.slice(0, 5)) out.push(`              ${t}`);
    out.push(`            or set ${l.env} to the file or its folder; or: ${l.apt} (NVIDIA's CUDA repository)`);
    out.push(`    install: ${l.pip}`);
  }
  if (doc.settings) out.push(`  settings: TF32 ${doc.settings.tf32 ? 'on' : 'off'}, deterministic ${doc.settings.deterministic ? 'on' : 'off'}, 2x2x2 stride-2 convolutions on ${doc.settings.convGemm ? 'cuBLAS' : 'cuDNN'}`);
  out.push(info.cudaAvailable ? '  GPU: usable (--device cuda)' : `  GPU: not usable: ${info.cudaUnavailableReason ?? doc.reason ?? 'no reason given'}`);
  return out;
}

export function cmdDoctor(): void {
  let doc: DoctorReport;
  try {
    doc = E.doctor() as unknown as DoctorReport;
  } catch (e) {
    doc = { compiled: false, reason: (e as Error).message };
  }
  process.stdout.write(formatDoctor(E.info(), doc, os.cpus()[0]?.model ?? 'unknown').join('\n') + '\n');
}
