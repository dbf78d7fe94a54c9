// Collectives across GPU ranks (NCCL): one id made by rank 0 and handed to the others by the
// caller's rendezvous, then in-place all-reduce and broadcast of device tensors.
import { native } from '../../bindings/native.js';
import type { Tensor } from './tensor.js';

/** Rank 0's id for a new communicator (128 bytes), to be sent to every rank. */
export function uniqueId(): Uint8Array {
  return native.ncclUniqueId();
}

/** Joins the communicator `id` as `rank` of `world` on the current GPU. */
export function init(rank: number, world: number, id: Uint8Array): void {
  native.ncclInit(rank, world, id);
}

/** Averages (or sums) `tensors` over all ranks in place, as one flat buffer: one all-reduce. */
export function allReduce(tensors: readonly Tensor[], average = true): void {
  native.ncclAllReduceFlat(tensors.map((t) => t.handle), average);
}

/** Copies rank `root`'s values of `t` to every rank, in place. */
export function broadcast(t: Tensor, root = 0): void {
  native.ncclBroadcast(t.handle, root);
}

/** Leaves the communicator (nothing to do when none was joined). */
export function finalize(): void {
  native.ncclFinalize();
}
