// Loads the compiled addon and types its surface: the one place that touches the .node file.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  info(): { threads: number; isa: string; cudaCompiled: boolean; cudaAvailable: boolean; cudaUnavailableReason?: string };
  setNumThreads(n: number): void;
  sync(): void;
  doctor(): string;
  initCuda(device?: number): void;
  cpuPeakGflops(threads?: number, seconds?: number): number;
  ncclUniqueId(): Uint8Array;
  ncclInit(rank: number, nranks: number, id: Uint8Array): void;
  ncclAllReduce(h: Handle, average?: boolean): void;
  ncclAllReduceFlat(hs: Handle[], average?: boolean): void;
  copyFromHost(h: Handle, data: Float32Array | Int32Array | Uint16Array): void;
  graphBegin(): number;
  graphEnd(): number;
  graphAbort(): void;
  graphLaunch(id: number): void;
  graphDestroy(id: number): void;
  ncclBroadcast(h: Handle, root?: number): void;
  ncclFinalize(): void;
  emptyCache(): void;
}

function findAddon(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // Source tree (bindings/) and compiled tree (dist/bindings/) both sit below the package root.
  const roots = [resolve(here, '..'), resolve(here, '..', '..')];
  const tried: string[] = [];
  if (process.env.VNET_ADDON) tried.push(resolve(process.env.VNET_ADDON));
  for (const r of roots) tried.push(join(r, 'build', 'Release', 'vnet_native.node'));
  for (const p of tried) if (existsSync(p)) return p;
  throw Object.assign(
    new Error(`vnet-native: the native addon is not built (looked in ${tried.join(', ')}); run \`npm run build\``),
    { code: 'VNET_E_NOT_BUILT' },
  );
}

const require = createRequire(import.meta.url);
export const native: NativeAddon = require(findAddon()) as NativeAddon;
