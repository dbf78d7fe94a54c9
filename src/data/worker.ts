// Worker-thread entry of the data loader: runs jobs from jobs.ts and posts results back,
// transferring batch buffers (cached cases are SharedArrayBuffers, shared without copies).
import { parentPort } from 'node:worker_threads';
import { runJob, toJobError, type Job } from './jobs.js';

const port = parentPort;
if (!port) throw new Error('data/worker.js must run in a worker thread');

port.on('message', (msg: { id: number; job: Job }) => {
  try {
    const res = runJob(msg.job, true);
    const transfer: ArrayBuffer[] = [];
    if (res.images) transfer.push(res.images.buffer as ArrayBuffer);
    if (res.labels) transfer.push(res.labels.buffer as ArrayBuffer);
    port.postMessage({ id: msg.id, ok: true, res }, transfer);
  } catch (e) {
    port.postMessage({ id: msg.id, ok: false, error: toJobError(e) });
  }
});
