// Loads the compiled addon and types its surface: the one place that touches the .node file.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADDON_FILE, checkPrebuilt, type PrebuiltManifest } from './prebuilt.js';
import { envValue } from '../src/env.js';

export type DType = 'f32' | 'f16' | 'i32';
export type DeviceName = 'cpu' | 'cuda';

/** An opaque reference to native tensor storage. */
export type Handle = { readonly __vnetHandle: unique symbol };

export interface NativeTensor {
  handle: Handle;
  shape: number[];
  dtype: DType;
  device: DeviceName;
}

export interface DeviceMemory {
  tensors: number;
  bytes: number;
  peakBytes: number;
  cachedBytes: number;
}

export type Attrs = Record<string, number | boolean | string | number[]>;

export interface NativeAddon {
  fromArray(data: Float32Array | Int32Array | Uint16Array, shape: number[], dtype: DType, device: DeviceName): NativeTensor;
  zeros(shape: number[], dtype: DType, device: DeviceName): NativeTensor;
  toArray(h: Handle): Float32Array | Int32Array | Uint16Array;
  dispose(h: Handle): void;
  toDevice(h: Handle, device: DeviceName): NativeTensor;
  run(op: string, inputs: Handle[], attrs?: Attrs): NativeTensor[];
  memory(): Record<DeviceName, DeviceMemory>;
  ops(): { name: string; inputs: number; outputs: number; cpu: boolean; cuda: boolean }[];
  info(): { threads: number; isa: string; isaCompiled: string; cudaCompiled: boolean; cudaArchs: string; cudaAvailable: boolean; cudaUnavailableReason?: string };
  setNumThreads(n: number): void;
  /** CUDA math modes for later ops (absent keys unchanged); returns the modes in force. */
  setMathModes(modes?: { tf32?: boolean; deterministic?: boolean }): { tf32: boolean; deterministic: boolean };
  sync(): void;
  doctor(): string;
  initCuda(device?: number): void;
  cpuPeakGflops(threads?: number, seconds?: number): number;
  ncclUniqueId(): Uint8Array;
  ncclInit(rank: number, nranks: number, id: Uint8Array): void;
  ncclAllReduceFlat(hs: Handle[], average?: boolean): void;
  copyFromHost(h: Handle, data: Float32Array | Int32Array | Uint16Array): void;
  graphBegin(): number;
  graphEnd(): number;
  graphAbort(): void;
  graphLaunch(id: number): void;
  graphDestroy(id: number): void;
  ncclBroadcast(h: Handle, root?: number): void;
  ncclFinalize(): void;
  /** Times one conv3d_* call per algorithm (the engine's only, or all with `all`); see native/conv_bench.h. */
  convBench(op: string, inputs: Handle[], attrs: Attrs, opts: ConvBenchOptions): ConvBenchResult[];
  /** The portable CPU reference loops (f32 CPU tensors): the benchmark's correctness oracle. */
  convReference(op: string, inputs: Handle[], attrs: Attrs): NativeTensor;
  /** GFLOP/s peaks of the GPU (SM count x maximum clock x a per-SM rate by compute capability). */
  /** Peaks (GFLOP/s) at clockMHz: VNET_GPU_CLOCK_MHZ when set (clockSource 'VNET_GPU_CLOCK_MHZ'), else the maximum clock ('max'). */
  gpuPeak(): { name: string; computeCapability: string; sms: number; clockMHz: number; maxClockMHz: number; clockSource: string; fp32: number; tf32: number; fp16: number };
  /** The CPU conv algorithm setting (VNET_CONV_ALGO; throws on an unknown value), auto's measured choices, the Winograd filter cache. */
  convAlgos(): ConvAlgos;
}

export interface ConvAlgos {
  setting: 'auto' | 'direct' | 'winograd';
  choices: { dir: string; input: number[]; filters: number; threads: number; algo: string; directMs: number; winogradMs: number }[];
  cache: { hits: number; misses: number; entries: number; bytes: number };
}

/** `algo` (CPU): auto (the engine's choice), all, or a comma list of direct, winograd, winograd4, reference. */
export interface ConvBenchOptions { warmup?: number; minReps?: number; minMs?: number; maxReps?: number; all?: boolean; algo?: string }
export interface ConvBenchResult { algo: string; chosen: boolean; ms: number[]; out?: NativeTensor; error?: string }

/** Where the addon was loaded from, for `vnet-native --version` and error reports. */
export interface AddonSource {
  path: string;
  kind: 'VNET_ADDON' | 'source build' | 'prebuilt';
  manifest?: PrebuiltManifest;
}

const here = dirname(fileURLToPath(import.meta.url));
// Source tree (bindings/) and compiled tree (dist/bindings/) both sit below the package root.
const roots = [resolve(here, '..'), resolve(here, '..', '..')];
const root = roots.find((r) => existsSync(join(r, 'package.json'))) ?? roots[1];

function notBuilt(what: string): Error {
  const how = existsSync(join(root, 'src', 'index.ts'))
    ? 'run `npm run build`'
    : `build it from source with \`node ${join(root, 'scripts', 'install.js')}\` (needs cmake and a C++ compiler)`;
  return Object.assign(new Error(`vnet-native: ${what}. To fix: ${how}`), { code: 'VNET_E_NOT_BUILT' });
}

// Order: $VNET_ADDON, a source build (build/Release: this repository, or a package built from
// source at install), then the prebuilt shipped in the package when it fits this machine.
function findAddon(): AddonSource {
  const tried: string[] = [];
  const env = envValue('VNET_ADDON');
  if (env) {
    if (existsSync(resolve(env))) return { path: checkAddonFile(resolve(env)), kind: 'VNET_ADDON' };
    tried.push(`${resolve(env)} ($VNET_ADDON: no such file)`);
  }
  for (const r of roots) {
    const p = join(r, 'build', 'Release', ADDON_FILE);
    if (existsSync(p)) return { path: p, kind: 'source build' };
  }
  tried.push(`${join(root, 'build', 'Release', ADDON_FILE)} (a source build: none)`);
  const pre = checkPrebuilt(root);
  if (pre.ok) return { path: pre.path, kind: 'prebuilt', manifest: pre.manifest };
  tried.push(`${pre.path} (${pre.reason})`);
  throw notBuilt(`the native addon is not built. Looked for: ${tried.join('; ')}`);
}

/** Shared-library magics: ELF, Mach-O (32/64-bit, either byte order, universal), PE. */
const LIBRARY_MAGIC = [[0x7f, 0x45, 0x4c, 0x46], [0xfe, 0xed, 0xfa], [0xce, 0xfa, 0xed, 0xfe], [0xcf, 0xfa, 0xed, 0xfe], [0xca, 0xfe, 0xba, 0xbe], [0x4d, 0x5a]];

/** $VNET_ADDON must be a regular file holding a shared library: a device would be read without end, a script run. */
function checkAddonFile(p: string): string {
  const bad = (why: string) => Object.assign(new Error(`VNET_ADDON=${p}: ${why}; point it at a vnet_native.node built by \`npm run build\` (or unset it)`), { code: 'VNET_E_NOT_BUILT' });
  if (!statSync(p).isFile()) throw bad('not a regular file');
  const head = Buffer.alloc(4);
  const fd = openSync(p, 'r');
  try { readSync(fd, head, 0, 4, 0); } finally { closeSync(fd); }
  if (!LIBRARY_MAGIC.some((m) => m.every((b, i) => head[i] === b))) throw bad('not a native addon (no shared-library header)');
  return p;
}

function loadAddon(src: AddonSource): NativeAddon {
  try {
    // dlopen, not require(): only a native library is ever loaded, whatever the file's name.
    const m = { exports: {} as NativeAddon };
    process.dlopen(m, src.path);
    return m.exports;
  } catch (e) {
    // The manifest fitted but the system still lacks something (e.g. a libstdc++ older than
    // the build machine's): say so and how to build one that fits.
    if (src.kind === 'VNET_ADDON') throw Object.assign(new Error(`VNET_ADDON=${src.path} does not load: ${(e as Error).message.split('\n')[0]}`), { code: 'VNET_E_NOT_BUILT' });
    if (src.kind !== 'prebuilt') throw e;
    throw notBuilt(`the prebuilt addon ${src.path} does not load on this system (${(e as Error).message.split('\n')[0]})`);
  }
}

/** VNET_ISA picks the CPU kernels: an unknown value (a typo, upper case, empty) is an error, not the portable kernels in silence. */
const ISA_CHOICES = ['avx512', 'avx2', 'portable'];
function checkIsaEnv(): void {
  const v = envValue('VNET_ISA');
  if (v !== undefined && !ISA_CHOICES.includes(v))
    throw Object.assign(new Error(`VNET_ISA=${JSON.stringify(v)} is not one of ${ISA_CHOICES.join(', ')} (the best this CPU supports is used when unset)`), { code: 'VNET_E_BAD_FLAG' });
}

checkIsaEnv();
export const addonSource: AddonSource = findAddon();
export const native: NativeAddon = loadAddon(addonSource);
