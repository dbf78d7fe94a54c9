// The segmentation service on node:http (no framework: a few routes do not need one):
// POST /predict, GET /health, /info, /metrics, and the viewer page at / (page/). /predict takes a
// NIfTI or a DICOM series (raw body or multipart, whatever the content type: the bytes decide). Every bad request gets a JSON { error, code }
// with a 4xx status and leaves the server serving; shutdown stops accepting and lets what is in
// flight finish, for at most the shutdown grace. A slow client is cut by the request and idle
// timeouts, so it holds a queue place for a bounded time.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { isDataError, packageVersion } from '../data/index.js';
import { readDicomFiles, volumeToNifti } from '../data/dicom/index.js';
import { pageHandler } from './page/handler.js';
import { readUpload } from './page/upload.js';
import { ServeMetrics } from './metrics.js';
import { SegmentError, type Segmentation, type Segmenter } from '../infer/segmenter.js';

/** What the server needs of a segmenter: an in-process Segmenter, or a RemoteSegmenter (abort() ends its thread). */
export type SegmentService = Pick<Segmenter, 'info' | 'onBatch' | 'dispose'> & {
  segment(body: Uint8Array, opts?: { name?: string }): Promise<Segmentation>;
  abort?(): Promise<void>;
};

export interface ServeOptions {
  /** Default 127.0.0.1 (only this machine); 0.0.0.0 listens on every interface. */
  host?: string;
  /** Default 8080; 0 picks a free port (see `port` on the result). */
  port?: number;
  /** Largest request body in MiB (default 64): 413 beyond it. */
  maxBodyMb?: number;
  /** Most /predict requests accepted at once (default 64): 503 with Retry-After beyond it. */
  maxQueue?: number;
  /** Longest the whole request (headers and body) may take to arrive, in seconds (default 60): 408 beyond. */
  requestTimeoutS?: number;
  /** Longest a body may pause between two chunks, in seconds (default 10): 408 beyond. */
  idleTimeoutS?: number;
  /** After close(), longest the requests in flight are waited for, in seconds (default 30); then they get 503. */
  shutdownGraceS?: number;
  /** Shown by /info (default: this package's version). */
  version?: string;
  /** Startup, shutdown and server-side failures (default: none). */
  log?: (line: string) => void;
  /** Let pages from this origin (or '*': any) call the API from a browser (CORS); default: same origin only. */
  cors?: string;
  /** Serve the viewer page at / (default true). */
  page?: boolean;
}

export interface SegmentServer {
  url: string;
  port: number;
  metrics: ServeMetrics;
  /** Resolves once the model is loaded (then /health answers 200), rejects if loading failed. */
  ready: Promise<void>;
  /** Requests in progress (all routes). */
  readonly active: number;
  /** Stop accepting, finish the requests in flight, then dispose the segmenter. */
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

/** The client went away before its body arrived: nobody to answer. */
const CLIENT_GONE = 'VNET_E_CLIENT_GONE';


function toHttpError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof SegmentError) return new HttpError(e.code === 'VNET_E_CLOSED' || e.code === 'VNET_E_SHUTTING_DOWN' ? 503 : 422, e.code, msg);
  if (isDataError(e)) {
    const status = e.code === 'VNET_E_TOO_LARGE' || e.code === 'VNET_E_SIZE' ? 413 : e.code === 'VNET_E_UNSUPPORTED' ? 422 : 400;
    return new HttpError(status, e.code, msg);
  }
  // A native or unexpected failure of this request only.
  const code = (e as { code?: unknown }).code;
  return new HttpError(500, typeof code === 'string' ? code : 'VNET_E_INTERNAL', msg);
}

function readBody(req: http.IncomingMessage, limit: number, idleMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    let over = false;
    // A body that stops arriving: answer 408 and drop the connection (its rest would never come).
    let idle: NodeJS.Timeout | undefined;
    const stall = () => {
      over = true;
      chunks.length = 0;
      reject(new HttpError(408, 'VNET_E_REQUEST_TIMEOUT', `the request body stalled for ${idleMs / 1000} s (--idle_timeout_s)`, { Connection: 'close' }));
    };
    const arm = () => { clearTimeout(idle); idle = setTimeout(stall, idleMs); };
    arm();
    req.on('data', (c: Buffer) => {
      arm();
      if (over) return; // the rest drains unread, so the connection stays usable
      n += c.length;
      if (n > limit) {
        over = true;
        chunks.length = 0;
        reject(new HttpError(413, 'VNET_E_BODY_TOO_LARGE', `request body is over the ${limit} bytes allowed (--max_body_mb)`));
      } else chunks.push(c);
    });
    req.on('end', () => { clearTimeout(idle); resolve(Buffer.concat(chunks, n)); });
    const gone = () => { clearTimeout(idle); if (!req.complete) reject(new HttpError(499, CLIENT_GONE, 'client disconnected before the body arrived')); };
    req.on('aborted', gone);
    req.on('close', gone);
    req.on('error', gone);
  });
}

const kv = (s: Segmentation, f: (l: Segmentation['labels'][number]) => string) => s.labels.map((l) => `${encodeURIComponent(l.name)}=${f(l)}`).join(';');

/** `image`: the NIfTI the server made from a DICOM upload, returned in JSON so a page can show it. */
function sendMask(res: http.ServerResponse, s: Segmentation, json: boolean, image?: Uint8Array): void {
  const t = s.timings;
  const timing = `decode=${t.decodeMs.toFixed(1)};queue=${t.queueMs.toFixed(1)};infer=${t.inferMs.toFixed(1)};encode=${t.encodeMs.toFixed(1)};total=${t.totalMs.toFixed(1)}`;
  if (json) {
    return sendJson(res, 200, {
      shape: s.shape, spacing: s.spacing, batch_size: s.batchSize,
      labels: s.labels.map((l) => ({ value: l.value, name: l.name, voxels: l.voxels, volume_mm3: l.volumeMm3 })),
      timings_ms: { decode: t.decodeMs, queue: t.queueMs, infer: t.inferMs, encode: t.encodeMs, total: t.totalMs },
      mask_base64: Buffer.from(s.mask).toString('base64'),
      ...(image ? { image_base64: zlib.gzipSync(image, { level: 1 }).toString('base64') } : {}),
    });
  }
  res.writeHead(200, {
    'Content-Type': 'application/gzip', 'Content-Length': s.mask.byteLength, 'Content-Disposition': 'attachment; filename="mask.nii.gz"',
    'X-Vnet-Shape': s.shape.join(','), 'X-Vnet-Voxels': kv(s, (l) => String(l.voxels)), 'X-Vnet-Volumes-Mm3': kv(s, (l) => l.volumeMm3.toFixed(3)),
    'X-Vnet-Batch-Size': String(s.batchSize), 'X-Vnet-Timings-Ms': timing,
  });
  res.end(s.mask);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Serve `segmenter` (or the promise of one: /health answers 503 until it resolves). */
export async function startServer(segmenter: SegmentService | Promise<SegmentService>, o: ServeOptions = {}): Promise<SegmentServer> {
  const maxBody = Math.floor((o.maxBodyMb ?? 64) * 1024 * 1024);
  const maxQueue = o.maxQueue ?? 64;
  const idleMs = (o.idleTimeoutS ?? 10) * 1000;
  const graceMs = (o.shutdownGraceS ?? 30) * 1000;
  const log = o.log ?? (() => undefined);
  const version = o.version ?? packageVersion();
  let seg: SegmentService | undefined;
  let failed: Error | undefined;
  let closing = false;
  let depth = 0; // /predict requests accepted and not yet answered
  let active = 0;
  let whenIdle: (() => void) | undefined;
  const metrics = new ServeMetrics(() => depth);
  const page = o.page === false ? () => false : pageHandler();
  const corsHeaders: Record<string, string> = o.cors ? {
    'Access-Control-Allow-Origin': o.cors, 'Access-Control-Allow-Methods': 'GET, HEAD, POST, OPTIONS', 'Access-Control-Allow-Headers': 'Content-Type',
    'Access-Control-Expose-Headers': 'Content-Disposition, X-Vnet-Shape, X-Vnet-Voxels, X-Vnet-Volumes-Mm3, X-Vnet-Batch-Size, X-Vnet-Timings-Ms', 'Access-Control-Max-Age': '600',
    ...(o.cors === '*' ? {} : { Vary: 'Origin' }),
  } : {};

  const ready = Promise.resolve(segmenter).then((s) => {
    seg = s;
    s.onBatch = (n, ms) => { metrics.batches.observe(n); metrics.inference.observe(ms / 1000); };
  }, (e: Error) => { failed = e; throw e; });
  ready.catch(() => undefined); // the caller awaits it; this keeps an unobserved failure quiet

  async function predict(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    if (req.method !== 'POST') throw new HttpError(405, 'VNET_E_METHOD', 'POST the .nii or .nii.gz (or the DICOM files of a series, multipart) as the request body', { Allow: 'POST' });
    if (closing) throw new HttpError(503, 'VNET_E_SHUTTING_DOWN', 'the server is shutting down', { Connection: 'close' });
    if (!seg) throw new HttpError(503, 'VNET_E_NOT_READY', failed ? `the model failed to load: ${failed.message}` : 'the model is still loading', { 'Retry-After': '1' });
    if (depth >= maxQueue) throw new HttpError(503, 'VNET_E_QUEUE_FULL', `${depth} requests are queued (--max_queue ${maxQueue}); retry later`, { 'Retry-After': '1' });
    const declared = Number(req.headers['content-length']);
    if (declared > maxBody) throw new HttpError(413, 'VNET_E_BODY_TOO_LARGE', `request body of ${declared} bytes is over the ${maxBody} allowed (--max_body_mb)`);
    const format = url.searchParams.get('format') ?? 'nifti';
    if (format !== 'nifti' && format !== 'json') throw new HttpError(400, 'VNET_E_FORMAT', `?format=${format}: use nifti (default) or json`);
    depth++;
    try {
      const body = await readBody(req, maxBody, idleMs);
      if (!body.length) throw new HttpError(400, 'VNET_E_EMPTY_BODY', 'the request body is empty: POST the .nii or .nii.gz bytes');
      const up = await readUpload(req.headers['content-type'], body);
      // A DICOM series becomes the NIfTI predict would read (same voxels and affine as dcm2niix).
      const image = up.kind === 'dicom' ? volumeToNifti(readDicomFiles(up.files)) : undefined;
      const s = up.kind === 'nifti' ? await seg.segment(up.bytes, { name: up.name }) : await seg.segment(image!, { name: 'the DICOM upload' });
      if (!res.destroyed) sendMask(res, s, format === 'json', image);
    } finally {
      depth--;
    }
  }

  // Node checks the request timeout every connectionsCheckingInterval (30 s by default): 1 s here.
  const requestTimeout = (o.requestTimeoutS ?? 60) * 1000;
  const server = http.createServer({ requestTimeout, headersTimeout: Math.min(requestTimeout, 10_000), connectionsCheckingInterval: 1000 }, (req, res) => {
    const t0 = performance.now();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      // An unparsable request target: answered here, it must not reach the routes.
      metrics.error('VNET_E_BAD_URL');
      return sendJson(res, 400, { error: `request target ${JSON.stringify(String(req.url).slice(0, 200))} is not a valid path`, code: 'VNET_E_BAD_URL' }, { Connection: 'close' });
    }
    for (const [k, v] of Object.entries(corsHeaders)) res.setHeader(k, v);
    if (req.method === 'OPTIONS' && o.cors) {
      // A browser's preflight for a cross-origin POST: the headers above answer it.
      res.writeHead(204, { 'Content-Length': 0 });
      return void res.end();
    }
    if (page(req, res)) return;
    const route = ['/predict', '/health', '/info', '/metrics'].includes(url.pathname) ? url.pathname : 'other';
    active++;
    res.on('close', () => {
      const status = res.writableFinished ? res.statusCode : 499;
      metrics.request(route, status);
      if (route === '/predict') metrics.latency.observe((performance.now() - t0) / 1000);
      if (--active === 0) whenIdle?.();
    });
    const answer = async () => {
      if (closing) res.setHeader('Connection', 'close');
      if (route === '/predict') return predict(req, res, url);
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'VNET_E_METHOD', `${req.method} ${url.pathname}: use GET`, { Allow: 'GET' });
      if (route === '/health') {
        const status = closing ? 'stopping' : seg ? 'ok' : failed ? 'failed' : 'loading';
        return sendJson(res, status === 'ok' ? 200 : 503, { status });
      }
      if (route === '/info') {
        if (!seg) throw new HttpError(503, 'VNET_E_NOT_READY', 'the model is still loading', { 'Retry-After': '1' });
        const i = seg.info;
        return sendJson(res, 200, {
          version, model_dir: i.modelDir, checkpoint: i.checkpoint, device: i.device, tta: i.tta, amp: i.amp,
          model: i.model, labels: i.labels, max_batch: i.maxBatch, batch_window_ms: i.batchWindowMs, workers: i.workers,
          max_body_mb: maxBody / (1024 * 1024), max_queue: maxQueue,
        });
      }
      if (route === '/metrics') {
        const text = metrics.render();
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4', 'Content-Length': Buffer.byteLength(text) });
        return void res.end(text);
      }
      throw new HttpError(404, 'VNET_E_NOT_FOUND', `no route ${url.pathname}: GET / (the viewer), POST /predict, GET /health, /info, /metrics`);
    };
    answer().catch((e: unknown) => {
      const h = toHttpError(e);
      metrics.error(h.code);
      if (h.status >= 500) log(`${req.method} ${url.pathname}: ${h.code}: ${h.message}`);
      if (h.code === CLIENT_GONE || res.destroyed || res.headersSent) return void res.destroy();
      sendJson(res, h.status, { error: h.message, code: h.code }, h.headers);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 8080, o.host ?? '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;

  let closed: Promise<void> | undefined;
  const close = () => (closed ??= (async () => {
    closing = true;
    const stopped = new Promise<void>((r) => server.close(() => r()));
    server.closeIdleConnections();
    if (active > 0) {
      let grace: NodeJS.Timeout | undefined;
      const idle = new Promise<void>((r) => (whenIdle = r));
      const late = await Promise.race([idle.then(() => false), new Promise<boolean>((r) => (grace = setTimeout(() => r(true), graceMs)))]);
      clearTimeout(grace);
      if (late) {
        log(`shutdown grace of ${graceMs / 1000} s is over: ending ${active} request(s) in flight`);
        await seg?.abort?.(); // their segmentations fail with 503 VNET_E_SHUTTING_DOWN
        await Promise.race([idle, new Promise((r) => setTimeout(r, 1000))]);
      }
    }
    server.closeAllConnections(); // only idle keep-alive connections are left (or ones past the grace)
    await stopped;
    await ready.catch(() => undefined);
    await seg?.dispose();
  })());

  return { url: `http://${host}:${addr.port}`, port: addr.port, metrics, ready, get active() { return active; }, close };
}
