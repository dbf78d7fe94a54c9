// The worker thread that holds the model for `serve`: every forward pass runs here, so the HTTP
// thread keeps answering /health, /metrics and SIGTERM while a large request is segmented.
// Messages in: { segment: id, body, name } and { close: true }; out: ready / failed, batch, done.
import { parentPort, workerData } from 'node:worker_threads';
import { setupDevice } from '../config/device.js';
import { createSegmenter, type Segmenter, type SegmenterOptions } from '../infer/segmenter.js';

export interface SegmentWorkerData { options: SegmenterOptions; threads?: number }
export type WorkerError = { name: string; code?: string; message: string };
export type FromWorker =
  | { kind: 'ready'; info: Segmenter['info'] }
  | { kind: 'failed'; error: WorkerError }
  | { kind: 'batch'; size: number; ms: number }
  | { kind: 'done'; id: number; result?: Awaited<ReturnType<Segmenter['segment']>>; error?: WorkerError }
  | { kind: 'closed' };
export type ToWorker = { kind: 'segment'; id: number; body: Uint8Array; name: string } | { kind: 'close' };

const asError = (e: unknown): WorkerError => {
  const err = e instanceof Error ? e : new Error(String(e));
  return { name: err.name, code: (err as { code?: string }).code, message: err.message };
};

const port = parentPort!;
const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
const { options, threads } = workerData as SegmentWorkerData;

let seg: Segmenter | undefined;
try {
  // The engine's device state is per thread: set it up here as the command did in its thread.
  const device = setupDevice({ device: options.device ?? 'cpu', threads, tf32: true, deterministic: false });
  seg = await createSegmenter({ ...options, device });
  seg.onBatch = (size, ms) => post({ kind: 'batch', size, ms });
  post({ kind: 'ready', info: seg.info });
} catch (e) {
  post({ kind: 'failed', error: asError(e) });
}

port.on('message', (m: ToWorker) => {
  if (m.kind === 'close') {
    void (seg?.dispose() ?? Promise.resolve()).then(() => { post({ kind: 'closed' }); port.close(); });
    return;
  }
  if (!seg) return post({ kind: 'done', id: m.id, error: { name: 'SegmentError', code: 'VNET_E_NOT_READY', message: 'the model did not load' } });
  seg.segment(m.body, { name: m.name }).then(
    // The label map moves to the server's thread, not copied (it is as large as the image).
    (result) => post({ kind: 'done', id: m.id, result }, [result.labelMap.buffer as ArrayBuffer]),
    (e: unknown) => post({ kind: 'done', id: m.id, error: asError(e) }),
  );
});
