// A small pool of data worker threads. Workers are unref'd while idle so a forgotten loader
// never keeps the process alive, and ref'd while they hold a job so an awaiting caller is not
// cut short by process exit. With `depth` > 1 a worker holds several jobs in its inbox, so it
// keeps working while the main thread is busy (a forward pass) and cannot hand out the next one.
import { Worker } from 'node:worker_threads';
import { DataError, type DataErrorCode } from './errors.js';
import type { Job, JobError, JobResult } from './jobs.js';

interface Pending {
  id: number;
  job: Job;
  resolve: (r: JobResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  /** Jobs posted to this worker and not yet answered, by id. */
  jobs: Map<number, Pending>;
}

function fromJobError(e: JobError): Error {
  return e.code ? new DataError(e.code as DataErrorCode, e.message, e.file) : new Error(e.message);
}

/** Runs jobs on `size` worker threads started from `url` (a compiled worker.js). */
export class WorkerPool {
  private slots: Slot[] = [];
  private queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  private readonly depth: number;

  constructor(url: URL, size: number, opts: { depth?: number } = {}) {
    this.depth = Math.max(1, opts.depth ?? 1);
    for (let i = 0; i < size; i++) this.slots.push(this.spawn(url));
  }

  get size(): number {
    return this.slots.length;
  }

  private spawn(url: URL): Slot {
    const slot: Slot = { worker: new Worker(url), jobs: new Map() };
    const w = slot.worker;
    w.unref();
    w.on('message', (m: { id: number; ok: boolean; res?: JobResult; error?: JobError }) => {
      const p = slot.jobs.get(m.id);
      if (!p) return;
      slot.jobs.delete(m.id);
      this.release(slot);
      if (m.ok) p.resolve(m.res as JobResult);
      else p.reject(fromJobError(m.error as JobError));
    });
    const fail = (e: Error) => {
      const held = [...slot.jobs.values()];
      this.slots = this.slots.filter((s) => s !== slot);
      slot.jobs.clear();
      for (const p of held) p.reject(e);
      if (this.slots.length === 0) for (const q of this.queue.splice(0)) q.reject(new Error('data workers exited'));
    };
    w.on('error', fail);
    w.on('exit', (code) => { if (!this.closed) fail(new Error(`data worker exited with code ${code}`)); });
    return slot;
  }

  private release(slot: Slot): void {
    const next = this.queue.shift();
    if (next) this.start(slot, next);
    else if (slot.jobs.size === 0) slot.worker.unref();
  }

  private start(slot: Slot, p: Pending): void {
    slot.jobs.set(p.id, p);
    slot.worker.ref();
    slot.worker.postMessage({ id: p.id, job: p.job });
  }

  /** Queue a job; resolves with its result, rejects with the worker's error. */
  run(job: Job): Promise<JobResult> {
    if (this.closed) return Promise.reject(new Error('WorkerPool is closed'));
    if (this.slots.length === 0) return Promise.reject(new Error('data workers exited'));
    return new Promise((resolve, reject) => {
      const p: Pending = { id: this.nextId++, job, resolve, reject };
      // The least loaded worker with room in its inbox.
      const free = this.slots.filter((s) => s.jobs.size < this.depth).sort((a, b) => a.jobs.size - b.jobs.size)[0];
      if (free) this.start(free, p);
      else this.queue.push(p);
    });
  }

  /** Terminate every worker; pending jobs reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new Error('WorkerPool closed');
    for (const q of this.queue.splice(0)) q.reject(err);
    for (const s of this.slots) { for (const p of s.jobs.values()) p.reject(err); s.jobs.clear(); }
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots = [];
  }
}
