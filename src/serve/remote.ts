// A Segmenter in a worker thread, with the Segmenter's surface (info, onBatch, segment,
// dispose) plus abort(): the HTTP thread only reads bodies and writes answers, so /health,
// /metrics and SIGTERM are answered while a forward pass runs. abort() ends the worker (the
// engine refuses further calls from a terminating thread instead of aborting the process).
import { Worker } from 'node:worker_threads';
import { SegmentError, type Segmentation, type Segmenter, type SegmenterOptions } from '../infer/segmenter.js';
import type { FromWorker, SegmentWorkerData, ToWorker, WorkerError } from './segment-worker.js';

function revive(e: WorkerError): Error {
  if (e.name === 'SegmentError') return new SegmentError(e.code ?? 'VNET_E_INTERNAL', e.message);
  return Object.assign(new Error(e.message), { name: e.name, code: e.code });
}

export class RemoteSegmenter {
  onBatch?: (size: number, ms: number) => void;
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (s: Segmentation) => void; reject: (e: Error) => void }>();
  private closing?: Promise<void>;

  private constructor(private readonly worker: Worker, readonly info: Segmenter['info']) {
    worker.on('message', (m: FromWorker) => {
      if (m.kind === 'batch') this.onBatch?.(m.size, m.ms);
      else if (m.kind === 'done') {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (m.error) w?.reject(revive(m.error));
        else w?.resolve(m.result!);
      }
    });
    worker.on('exit', () => this.failAll(new SegmentError('VNET_E_CLOSED', 'the segmenter stopped')));
  }

  /** Load the model in a new worker thread; rejects with the load error. */
  static start(options: SegmenterOptions, threads?: number): Promise<RemoteSegmenter> {
    const data: SegmentWorkerData = { options, threads };
    const worker = new Worker(new URL('./segment-worker.js', import.meta.url), { workerData: data });
    return new Promise((resolve, reject) => {
      const early = (m: FromWorker) => {
        if (m.kind === 'ready') { worker.off('message', early); resolve(new RemoteSegmenter(worker, m.info)); }
        if (m.kind === 'failed') { worker.off('message', early); void worker.terminate(); reject(revive(m.error)); }
      };
      worker.on('message', early);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new SegmentError('VNET_E_INTERNAL', `the segmenter thread exited (code ${code}) while loading`)));
    });
  }

  get pending(): number {
    return this.waiting.size;
  }

  segment(body: Uint8Array, opts: { name?: string } = {}): Promise<Segmentation> {
    if (this.closing) return Promise.reject(new SegmentError('VNET_E_CLOSED', 'the segmenter is disposed'));
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // A copy of just this view (a Buffer may sit in a larger pooled one), moved to the worker.
      const copy = new Uint8Array(body);
      const m: ToWorker = { kind: 'segment', id, body: copy, name: opts.name ?? 'request body' };
      this.worker.postMessage(m, [copy.buffer]);
    });
  }

  /** Finish what was accepted, then free the model and end the thread. */
  dispose(): Promise<void> {
    return (this.closing ??= new Promise<void>((resolve) => {
      this.worker.once('exit', () => resolve());
      this.worker.postMessage({ kind: 'close' } satisfies ToWorker);
    }));
  }

  /** End the thread now: what is still in progress fails with VNET_E_SHUTTING_DOWN. */
  async abort(): Promise<void> {
    this.failAll(new SegmentError('VNET_E_SHUTTING_DOWN', 'the server is shutting down: the request was not finished'));
    this.closing ??= Promise.resolve();
    await this.worker.terminate();
  }

  private failAll(e: Error): void {
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }
}
