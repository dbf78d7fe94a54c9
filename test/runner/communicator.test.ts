// The NCCL communicator's calls in order, on the CPU with a recording collective and rendezvous:
// join (id from rank 0 over the rendezvous, then init), all-reduce of the gradients before the
// loss, and at the end the communicator destroyed before the rendezvous closes, also when
// destroying it fails. The native side (ncclCommDestroy after the last all-reduce) runs on the
// host shim's stand-in NCCL (test/cuda-host/kernels.test.ts) and on the GPU (bench/gpu).
import * as E from '../../src/engine/index.js';
import { NcclCommunicator } from '../../src/train/communicator.js';

function recorders(failFinalize = false) {
  const calls: string[] = [];
  const nccl = {
    uniqueId: () => (calls.push('nccl.uniqueId'), new Uint8Array(128).fill(7)),
    init: (rank: number, world: number, id: Uint8Array) => void calls.push(`nccl.init ${rank}/${world} id ${id.length} bytes`),
    allReduce: (ts: readonly E.Tensor[]) => void calls.push(`nccl.allReduce ${ts.length} tensors`),
    broadcast: () => void calls.push('nccl.broadcast'),
    finalize: () => {
      calls.push('nccl.finalize');
      if (failFinalize) throw new Error('ncclCommDestroy: unhandled cuda error');
    },
  };
  const tcp = {
    rank: 0, world: 2,
    broadcastBytes: async (b: Uint8Array) => (calls.push(`tcp.broadcastBytes ${b.length}`), b),
    allReduceMean: async (a: Float32Array) => void calls.push(`tcp.allReduceMean ${a.length}`),
    close: async () => void calls.push('tcp.close'),
  };
  return { calls, nccl, tcp };
}

test('join, all-reduce, close: the communicator is destroyed at the end, before the rendezvous closes', async () => {
  const { calls, nccl, tcp } = recorders();
  const comm = await NcclCommunicator.join(tcp as never, nccl);
  const p = E.keep(E.tensor(new Float32Array([1, 2]), [2]));
  p.grad = E.keep(E.tensor(new Float32Array([0.5, 0.5]), [2]));
  const q = E.keep(E.tensor(new Float32Array([3]), [1])); // no gradient: not sent
  expect(await comm.allReduceGrads([p, q], 1.25)).toBe(1.25);
  await comm.close();
  expect(calls).toEqual(['nccl.uniqueId', 'tcp.broadcastBytes 128', 'nccl.init 0/2 id 128 bytes', 'nccl.allReduce 1 tensors',
    'tcp.allReduceMean 1', 'nccl.finalize', 'tcp.close']);
  for (const t of [p.grad, p, q]) t.dispose();
});

test('a communicator that fails to close still closes the rendezvous, and the failure is reported', async () => {
  const { calls, nccl, tcp } = recorders(true);
  const comm = await NcclCommunicator.join(tcp as never, nccl);
  await expect(comm.close()).rejects.toThrow(/ncclCommDestroy/);
  expect(calls.slice(-2)).toEqual(['nccl.finalize', 'tcp.close']);
});
