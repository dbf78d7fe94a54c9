// The engine's device face: which device (and GPU index) later ops run on, CPU threads, the CUDA
// math modes, synchronisation, what the build and machine offer, and CUDA Graph capture. The
// runner and the CLI go through this (and collective.ts), never through the binding.
import { spawnSync } from 'node:child_process';
import { addonSource, native, type AddonSource, type DeviceName } from '../../bindings/native.js';
import { Tensor, VnetError } from './tensor.js';

export interface DeviceOptions {
  device?: DeviceName;
  /** GPU index (the local rank under data parallel); default 0 */
  index?: number;
  /** CPU worker threads of the engine's pool */
  threads?: number;
  /** TF32 for fp32 convolutions and GEMMs on GPUs that have it (default on) */
  tf32?: boolean;
  /** only deterministic cuDNN algorithms (default off) */
  deterministic?: boolean;
}

export interface EngineInfo {
  threads: number;
  isa: string;
  isaCompiled: string;
  cudaCompiled: boolean;
  cudaArchs: string;
  cudaAvailable: boolean;
  cudaUnavailableReason?: string;
  tf32: boolean;
  deterministic: boolean;
  /** where the loaded addon came from (a source build, a prebuilt, VNET_ADDON) */
  addon: AddonSource;
}

/**
 * Applies `o` for every later op: threads, math modes, and for `cuda` the GPU (an error with
 * code VNET_E_DEVICE and the reason where none is usable). Keys left out stay as they were, so a
 * library caller can run twice with different settings. Returns the device.
 */
export function useDevice(o: DeviceOptions = {}): DeviceName {
  if (o.threads !== undefined) native.setNumThreads(o.threads);
  if (o.tf32 !== undefined || o.deterministic !== undefined) native.setMathModes({ tf32: o.tf32, deterministic: o.deterministic });
  const device = o.device ?? 'cpu';
  if (device === 'cuda') {
    const i = native.info();
    if (!i.cudaAvailable) throw new VnetError(`no usable GPU (${i.cudaUnavailableReason ?? 'unknown reason'}); run \`vnet-native doctor\` to see what is missing`, 'VNET_E_DEVICE');
    native.initCuda(o.index ?? 0);
  } else if (device !== 'cpu') {
    throw new VnetError(`unknown device "${String(device)}" (cpu or cuda)`, 'VNET_E_DEVICE');
  }
  return device;
}

/** Waits until every queued op has finished (CUDA ops return at once; CPU ops are synchronous). */
export function sync(): void {
  native.sync();
}

/** The build, the machine and the modes in force. */
export function info(): EngineInfo {
  return { ...native.info(), ...native.setMathModes(), addon: addonSource };
}

/**
 * The CPU convolution algorithm setting (VNET_CONV_ALGO: auto, direct or winograd; throws
 * VNET_E_INVALID_ARG on another value), what auto measured so far, the Winograd filter cache.
 */
export function convAlgos(): ReturnType<typeof native.convAlgos> {
  return native.convAlgos();
}

/** The CUDA doctor's report (driver, runtime, libraries, GPUs) as a parsed object. */
export function doctor(): Record<string, unknown> {
  return JSON.parse(native.doctor()) as Record<string, unknown>;
}

/**
 * The doctor's report, asked of a short-lived child process so that this process never creates
 * a CUDA context. The launcher of `--gpus N` needs the GPU count before it starts the ranks; a
 * context made for that query (the free-memory query makes one per GPU, about 0.5 GB each)
 * would stay until the launcher exits, that is for the whole job. The child's die with it.
 */
export function doctorInChild(): Record<string, unknown> {
  const code = `process.stdout.write(require(${JSON.stringify(addonSource.path)}).doctor())`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 120000 });
  if (r.error || r.status !== 0)
    throw new VnetError(`the GPU query (a child process loading ${addonSource.path}) failed: ${r.error?.message ?? `exit ${r.status ?? r.signal}`} ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' ')}`, 'VNET_E_DEVICE');
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** A captured sequence of CUDA ops: replay() launches it again; dispose() frees it. */
export interface CapturedGraph {
  replay(): void;
  dispose(): void;
}

/**
 * Captures the CUDA ops `fn` queues as one graph (nothing runs during the capture). Throws,
 * with nothing left open, when the capture fails (e.g. on the CPU, or an op that cannot be
 * captured). Inputs change between replays by writing into tensors made before the capture.
 */
export function captureGraph(fn: () => void): CapturedGraph {
  sync();
  native.graphBegin();
  let id: number;
  try {
    fn();
    id = native.graphEnd();
  } catch (e) {
    native.graphAbort();
    throw e;
  }
  return {
    replay: () => {
      if (!id) throw new VnetError('captured graph used after dispose()', 'VNET_E_DISPOSED');
      native.graphLaunch(id);
    },
    dispose: () => {
      if (id) native.graphDestroy(id);
      id = 0;
    },
  };
}

/** Overwrites `t`'s values in place with host data of the same size (queued, capturable). */
export function writeInto(t: Tensor, data: Float32Array | Int32Array | Uint16Array): void {
  native.copyFromHost(t.handle, data);
}
