// Loads the compiled addon and types its surface: the one place that touches the .node file.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADDON_FILE, checkPrebuilt, type PrebuiltManifest } from './prebuilt.js';

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
}

export interface ConvBenchOptions { warmup?: number; minReps?: number; minMs?: number; maxReps?: number; all?: boolean }
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
  const env = process.env.VNET_ADDON;
  if (env) {
    if (existsSync(resolve(env))) return { path: resolve(env), kind: 'VNET_ADDON' };
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

function loadAddon(src: AddonSource): NativeAddon {
  try {
    return createRequire(import.meta.url)(src.path) as NativeAddon;
  } catch (e) {
    // The manifest fitted but the system still lacks something (e.g. a libstdc++ older than
    // the build machine's): say so and how to build one that fits.
    if (src.kind !== 'prebuilt') throw e;
    throw notBuilt(`the prebuilt addon ${src.path} does not load on this system (${(e as Error).message.split('\n')[0]})`);
  }
}

export const addonSource: AddonSource = findAddon();
export const native: NativeAddon = loadAddon(addonSource);
