// `vnet-native serve`: listen at once (so /health can say "loading"), load the model, serve until
// SIGTERM / SIGINT, then stop accepting, finish what is in flight and return (exit 0).
import fs from 'node:fs';
import path from 'node:path';
import { setupDevice } from '../config/device.js';
import { RunError } from '../config/options.js';
import { createSegmenter } from '../infer/segmenter.js';
import { startServer } from './server.js';

export interface ServeArgs {
  modelDir: string;
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
}

function check(a: ServeArgs): void {
  const bad = (flag: string, why: string, v: unknown) => { throw new RunError(`--${flag} ${v}: ${why}`, 'VNET_E_BAD_FLAG'); };
  if (!(Number.isInteger(a.port) && a.port >= 0 && a.port <= 65535)) bad('port', 'must be an integer in 0..65535', a.port);
  if (a.maxBatch !== undefined && !(Number.isInteger(a.maxBatch) && a.maxBatch >= 1)) bad('max_batch', 'must be a positive integer', a.maxBatch);
  if (!(Number.isInteger(a.maxQueue) && a.maxQueue >= 1)) bad('max_queue', 'must be a positive integer', a.maxQueue);
  if (!(a.batchWindowMs >= 0 && a.batchWindowMs <= 10_000)) bad('batch_window_ms', 'must be between 0 and 10000', a.batchWindowMs);
  if (!(a.maxBodyMb > 0)) bad('max_body_mb', 'must be a positive number', a.maxBodyMb);
  if (a.overlap !== undefined && !(a.overlap >= 0 && a.overlap < 1)) bad('overlap', 'must be in [0, 1)', a.overlap);
  if (a.workers !== undefined && !(Number.isInteger(a.workers) && a.workers >= 0)) bad('workers', 'must be a non-negative integer', a.workers);
  if (!fs.existsSync(path.join(a.modelDir, 'config.json'))) throw new RunError(`no trained model in ${a.modelDir} (no config.json): train first`, 'VNET_E_NO_CHECKPOINT');
}

export async function cmdServe(a: ServeArgs): Promise<void> {
  check(a);
  const device = setupDevice({ device: a.device ?? 'cpu', threads: a.threads, tf32: true, deterministic: false });
  const maxBatch = a.maxBatch ?? (device === 'cuda' ? 8 : 1);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const loading = createSegmenter({ modelDir: a.modelDir, device, tta: a.tta, overlap: a.overlap, amp: a.amp, xla: a.xla, batchSize: maxBatch, batchWindowMs: a.batchWindowMs, workers: a.workers, only3d: true });
  loading.catch(() => undefined); // reported through srv.ready below
  const srv = await startServer(loading, { host: a.host, port: a.port, maxBodyMb: a.maxBodyMb, maxQueue: a.maxQueue, log });
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
  log(`model ${a.modelDir} loaded on ${device} (max batch ${maxBatch}, window ${a.batchWindowMs} ms): POST a .nii / .nii.gz to ${srv.url}/predict`);
  await stopped;
  log('stopped');
}
