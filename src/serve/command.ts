// `vnet-native serve`: listen at once (so /health can say "loading"), load the model, serve until
// SIGTERM / SIGINT, then stop accepting, finish what is in flight and return (exit 0). The
// model runs in a worker thread (RemoteSegmenter), so this thread always answers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setupDevice } from '../config/device.js';
import { RunError } from '../config/options.js';
import { createSegmenter } from '../infer/segmenter.js';
import { resolveModel } from '../infer/shipped.js';
import { RemoteSegmenter } from './remote.js';
import { startServer, type SegmentService } from './server.js';

export interface ServeArgs {
  /** A model folder or a shipped model's name. */
  model: string;
  /** The flag that named it, for errors (--model or --model_dir). */
  modelFlag?: string;
  /** The origin allowed to call the API from a browser ('*': any). */
  cors?: string;
  host: string;
  port: number;
  device?: 'cpu' | 'cuda';
  tta: boolean;
  /** Models trained with --resize none: the sliding windows' overlap. */
  overlap?: number;
  amp: boolean;
  xla: boolean;
  /** Default: 1 on CPU (batches measured no faster per case there, see the README), 8 on CUDA. */
  maxBatch?: number;
  batchWindowMs: number;
  maxQueue: number;
  maxBodyMb: number;
  workers?: number;
  threads?: number;
  /** Most voxels one request may declare (default 2^25, e.g. 512x512x128). */
  maxVoxels?: number;
  requestTimeoutS?: number;
  idleTimeoutS?: number;
  shutdownGraceS?: number;
}

/** Default per-request voxel budget: 2^25 voxels, a 512x512x128 CT, 128 MiB as float32. */
export const DEFAULT_MAX_VOXELS = 2 ** 25;

function check(a: ServeArgs): void {
  const bad = (flag: string, why: string, v: unknown) => { throw new RunError(`--${flag} ${v}: ${why}`, 'VNET_E_BAD_FLAG'); };
  if (!(Number.isInteger(a.port) && a.port >= 0 && a.port <= 65535)) bad('port', 'must be an integer in 0..65535', a.port);
  if (a.maxBatch !== undefined && !(Number.isInteger(a.maxBatch) && a.maxBatch >= 1)) bad('max_batch', 'must be a positive integer', a.maxBatch);
  if (!(Number.isInteger(a.maxQueue) && a.maxQueue >= 1)) bad('max_queue', 'must be a positive integer', a.maxQueue);
  if (!(a.batchWindowMs >= 0 && a.batchWindowMs <= 10_000)) bad('batch_window_ms', 'must be between 0 and 10000', a.batchWindowMs);
  if (!(a.maxBodyMb >= 1 / 1024 && a.maxBodyMb <= 4096)) bad('max_body_mb', 'must be between 0.001 (1 KiB) and 4096', a.maxBodyMb);
  if (a.maxVoxels !== undefined && !(Number.isInteger(a.maxVoxels) && a.maxVoxels >= 1 && a.maxVoxels <= 2 ** 31)) bad('max_voxels', 'must be an integer in 1..2147483648', a.maxVoxels);
  for (const [flag, v, most] of [['request_timeout_s', a.requestTimeoutS, 3600], ['idle_timeout_s', a.idleTimeoutS, 3600], ['shutdown_grace_s', a.shutdownGraceS, 3600]] as const) {
    if (v !== undefined && !(v > 0 && v <= most)) bad(flag, `must be a number of seconds in (0, ${most}]`, v);
  }
  const most = 4 * os.availableParallelism();
  if (a.workers !== undefined && a.workers > most) bad('workers', `must be at most ${most} (4 per core)`, a.workers);
  if (a.overlap !== undefined && !(a.overlap >= 0 && a.overlap < 1)) bad('overlap', 'must be in [0, 1)', a.overlap);
  if (a.workers !== undefined && !(Number.isInteger(a.workers) && a.workers >= 0)) bad('workers', 'must be a non-negative integer', a.workers);
  if (a.cors !== undefined && a.cors !== '*' && !/^https?:\/\/[^/\s]+$/.test(a.cors)) bad('cors', 'must be an origin (scheme://host[:port], no path) or *', a.cors);
}

export async function cmdServe(a: ServeArgs): Promise<void> {
  check(a);
  const model = resolveModel(a.model, a.modelFlag);
  const modelDir = model.dir;
  const device = setupDevice({ device: a.device ?? 'cpu', threads: a.threads, tf32: true, deterministic: false });
  const maxBatch = a.maxBatch ?? (device === 'cuda' ? 8 : 1);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const opts = { modelDir, device, tta: a.tta, overlap: a.overlap, amp: a.amp, xla: a.xla, batchSize: maxBatch, batchWindowMs: a.batchWindowMs, workers: a.workers, only3d: true, maxVoxels: a.maxVoxels ?? DEFAULT_MAX_VOXELS };
  // From the TypeScript sources (tests) there is no compiled worker: the model then runs in this thread.
  const worker = import.meta.url.endsWith('.js') && fs.existsSync(fileURLToPath(new URL('./segment-worker.js', import.meta.url)));
  const loading: Promise<SegmentService> = worker ? RemoteSegmenter.start(opts, a.threads) : createSegmenter(opts);
  loading.catch(() => undefined); // reported through srv.ready below
  const srv = await startServer(loading, {
    host: a.host, port: a.port, cors: a.cors, maxBodyMb: a.maxBodyMb, maxQueue: a.maxQueue, log,
    requestTimeoutS: a.requestTimeoutS, idleTimeoutS: a.idleTimeoutS, shutdownGraceS: a.shutdownGraceS,
  });
  process.stdout.write(`listening on ${srv.url}\n`);
  let stop: (sig: NodeJS.Signals) => void = () => undefined;
  const stopped = new Promise<void>((resolve, reject) => {
    stop = (sig) => {
      log(`${sig}: not accepting new connections; finishing ${srv.active} request(s) in flight`);
      srv.close().then(resolve, reject);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  try {
    await srv.ready;
  } catch (e) {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    await srv.close();
    throw e;
  }
  log(`model ${model.name ?? modelDir} loaded on ${device} (max batch ${maxBatch}, window ${a.batchWindowMs} ms): open ${srv.url}/ in a browser, or POST a .nii / .nii.gz to ${srv.url}/predict`);
  await stopped;
  log('stopped');
}
