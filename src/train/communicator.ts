// The communicator of a training run, one interface for every configuration: a single process
// (local), CPU ranks (gradients through the TCP rendezvous, parallel.ts) and GPU ranks (NCCL on
// the device; the TCP link carries the loss and NCCL's id). The training step calls
// allReduceGrads after its backward and broadcastState once before the first step.
import * as E from '../engine/index.js';
import type { ParamStore } from '../nn/module.js';
import { rankFromEnv } from '../env.js';
import { TcpCommunicator } from './ranks.js';

export interface Communicator {
  readonly rank: number;
  readonly world: number;
  /** Averages every parameter's gradient over the ranks in place (a missing one counts as
   * zeros) and returns the mean of `loss`. */
  allReduceGrads(params: readonly E.Tensor[], loss: number): Promise<number>;
  /** Copies rank 0's parameters and buffers to every rank. */
  broadcastState(store: ParamStore): Promise<void>;
  close(): Promise<void>;
}

/** One process: nothing to exchange. */
export class LocalCommunicator implements Communicator {
  readonly rank = 0;
  readonly world = 1;
  async allReduceGrads(_params: readonly E.Tensor[], loss: number): Promise<number> {
    return loss;
  }
  async broadcastState(): Promise<void> {}
  async close(): Promise<void> {}
}

/** CPU ranks: the gradients and the loss in one flat host buffer, one all-reduce over TCP. */
export class HostCommunicator implements Communicator {
  constructor(private readonly tcp: TcpCommunicator) {}
  get rank(): number { return this.tcp.rank; }
  get world(): number { return this.tcp.world; }

  async allReduceGrads(params: readonly E.Tensor[], loss: number): Promise<number> {
    const total = params.reduce((a, p) => a + p.size, 0);
    const flat = new Float32Array(total + 1);
    let off = 0;
    for (const p of params) {
      if (p.grad) flat.set(p.grad.toArray() as Float32Array, off);
      off += p.size;
    }
    flat[total] = loss;
    await this.tcp.allReduceMean(flat);
    off = 0;
    for (const p of params) {
      const g = flat.subarray(off, off + p.size);
      if (p.grad) E.writeInto(p.grad, g);
      else p.grad = E.keep(E.tensor(g, p.shape, { device: p.device }));
      off += p.size;
    }
    return flat[total];
  }

  async broadcastState(store: ParamStore): Promise<void> {
    const entries = store.entries();
    const flat = new Float32Array(entries.reduce((a, [, t]) => a + t.size, 0));
    let off = 0;
    for (const [, t] of entries) {
      flat.set(t.toArray() as Float32Array, off);
      off += t.size;
    }
    await this.tcp.broadcast(flat);
    off = 0;
    for (const [name, t] of entries) {
      store.assign(name, E.tensor(flat.slice(off, off + t.size), t.shape, { device: store.device }));
      off += t.size;
    }
  }

  close(): Promise<void> {
    return this.tcp.close();
  }
}

type Collective = Pick<typeof E.collective, 'uniqueId' | 'init' | 'allReduce' | 'broadcast' | 'finalize'>;
type Rendezvous = Pick<TcpCommunicator, 'rank' | 'world' | 'broadcastBytes' | 'allReduceMean' | 'close'>;

/** GPU ranks: one NCCL all-reduce over the gradients packed in one flat device buffer. */
export class NcclCommunicator implements Communicator {
  private constructor(private readonly tcp: Rendezvous, private readonly nccl: Collective) {}

  /**
   * Rank 0 makes NCCL's id, the TCP rendezvous hands it to the others, every rank joins.
   * `nccl` is the engine's collective (tests pass a recorder to check the order of calls).
   */
  static async join(tcp: Rendezvous, nccl: Collective = E.collective): Promise<NcclCommunicator> {
    const id = await tcp.broadcastBytes(tcp.rank === 0 ? nccl.uniqueId() : new Uint8Array(0));
    nccl.init(tcp.rank, tcp.world, id);
    return new NcclCommunicator(tcp, nccl);
  }
  get rank(): number { return this.tcp.rank; }
  get world(): number { return this.tcp.world; }

  async allReduceGrads(params: readonly E.Tensor[], loss: number): Promise<number> {
    this.nccl.allReduce(params.filter((p) => p.grad).map((p) => p.grad!));
    const l = new Float32Array([loss]);
    await this.tcp.allReduceMean(l);
    return l[0];
  }

  async broadcastState(store: ParamStore): Promise<void> {
    for (const [, t] of store.entries()) this.nccl.broadcast(t, 0);
  }

  /** Destroys the NCCL communicator (after its last all-reduce), then closes the rendezvous. */
  async close(): Promise<void> {
    try {
      this.nccl.finalize();
    } finally {
      await this.tcp.close();
    }
  }
}

/**
 * This process's communicator: local when it was not launched as a rank, else it joins the
 * rendezvous (and NCCL for GPU ranks).
 */
export async function connectRanks(device: E.DeviceName): Promise<Communicator> {
  const info = rankFromEnv();
  if (!info) return new LocalCommunicator();
  const tcp = await TcpCommunicator.connect(info);
  if (tcp.world === 1) return new HostCommunicator(tcp);
  return device === 'cuda' ? NcclCommunicator.join(tcp) : new HostCommunicator(tcp);
}
