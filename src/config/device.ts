// The run's device from its options, set before any work starts: the CPU threads (shared among
// CPU ranks), the GPU of this rank, the math modes; and the check that `--gpus N` can run.
import os from 'node:os';
import * as E from '../engine/index.js';
import { rankFromEnv } from '../env.js';
import { RunError, type RunOptions } from './options.js';

/** Applies thread count and checks the device before any work starts. */
export function setupDevice(o: Pick<RunOptions, 'device' | 'threads' | 'tf32' | 'deterministic'>): E.DeviceName {
  const rank = rankFromEnv();
  // CPU ranks share the cores unless --threads says otherwise.
  const threads = o.threads || (rank && o.device === 'cpu' ? Math.max(1, Math.floor(os.availableParallelism() / Math.min(rank.world, os.availableParallelism()))) : undefined);
  try {
    // The math modes are set for this run whatever an earlier run in this process chose.
    return E.useDevice({ device: o.device === 'cuda' ? 'cuda' : 'cpu', index: rank?.localRank ?? 0, threads, tf32: o.tf32 !== false, deterministic: !!o.deterministic });
  } catch (e) {
    if (e instanceof E.VnetError && e.code === 'VNET_E_DEVICE') throw new RunError(`--device cuda: ${e.message}`, 'VNET_E_DEVICE');
    throw e;
  }
}

/**
 * Checks, before any rank starts, that `--gpus N` can run: N CUDA devices and NCCL for GPU
 * ranks; any N for CPU ranks. The GPUs are counted by a child process (E.doctorInChild), so
 * the launcher holds no CUDA context on any GPU while the ranks train.
 */
export function checkParallel(o: Pick<RunOptions, 'gpus' | 'device'>): void {
  if (o.gpus <= 1 || o.device === 'cpu') return;
  const doc = E.doctorInChild() as { available?: boolean; reason?: string; gpus?: unknown[]; nccl?: { found?: boolean; error?: string } };
  if (!doc.available)
    throw new RunError(`--gpus ${o.gpus}: no usable GPU (${doc.reason ?? 'unknown reason'}); for CPU ranks pass --device cpu`, 'VNET_E_DEVICE');
  const n = Array.isArray(doc.gpus) ? doc.gpus.length : 0;
  if (n < o.gpus) throw new RunError(`--gpus ${o.gpus}: only ${n} GPU(s) on this machine`, 'VNET_E_DEVICE');
  if (!doc.nccl?.found) throw new RunError(`--gpus ${o.gpus}: NCCL is needed for multi-GPU training and was not found (${doc.nccl?.error ?? 'see vnet-native doctor'})`, 'VNET_E_LIBRARY');
}
