// Hostile clients of `vnet-native serve`, over real HTTP on 127.0.0.1: a request target no URL
// parser accepts, a small body whose header declares a huge volume, clients that send headers
// and a byte and then nothing, and a large request to a sliding-window model. Each case asserts
// that /health answers during and after (each probe under a time limit, in a bounded loop) and
// that SIGTERM ends the server within its grace.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { CASE_LIMIT_MS, CLI, cli, expectRefused, nifti, requireBuilt, storedModel, tmp } from './helpers.js';

interface Served { child: ChildProcess; url: string; port: number; stderr: () => string; exit: Promise<number | null> }
const started: ChildProcess[] = [];
afterAll(() => { for (const c of started) if (c.exitCode === null) c.kill('SIGKILL'); });

/** GET or POST with a hard time limit; rejects on timeout. */
function call(url: string, o: { method?: string; body?: Uint8Array; timeoutMs?: number } = {}): Promise<{ status: number; body: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: o.method ?? (o.body ? 'POST' : 'GET'), agent: false, timeout: o.timeoutMs ?? 2000,
      headers: o.body ? { 'Content-Type': 'application/octet-stream', 'Content-Length': o.body.byteLength } : {} }, (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b, ms: Date.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer in ${o.timeoutMs ?? 2000} ms`)));
    req.on('error', reject);
    req.end(o.body);
  });
}

async function serve(model: string, args: string[] = []): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', '--model_dir', model, '--port', '0', '--workers', '0', ...args], { env: { ...process.env, VNET_NUM_THREADS: '2' }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '', err = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  for (let i = 0; i < 300 && child.exitCode === null; i++) {
    const url = /listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(out);
    if (url && (await call(`${url[1]}/health`).catch(() => undefined))?.status === 200) return { child, url: url[1], port: Number(url[2]), stderr: () => err, exit };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`serve did not become ready:\n${out}\n${err}`);
}

/** /health answers 200 within 1 s, `n` times in a row, `gapMs` apart. */
async function healthy(s: Served, n = 3, gapMs = 100): Promise<void> {
  for (let i = 0; i < n; i++) {
    const h = await call(`${s.url}/health`, { timeoutMs: 1000 });
    expect(h.status).toBe(200);
    await new Promise((r) => setTimeout(r, gapMs));
  }
}

/** SIGTERM, then the exit code within `ms`. */
async function stop(s: Served, ms = 10_000): Promise<number | null> {
  s.child.kill('SIGTERM');
  return Promise.race([s.exit, new Promise<string>((r) => setTimeout(() => r(`still running ${ms} ms after SIGTERM`), ms).unref())]) as Promise<number | null>;
}

/** Peak resident memory of a running child (MB). */
const peakMb = (c: ChildProcess) => Number(/VmHWM:\s*(\d+)/.exec(fs.readFileSync(`/proc/${c.pid}/status`, 'utf8'))![1]) / 1024;

let model: string;
let sliding: string;
beforeAll(() => {
  requireBuilt();
  model = path.join(tmp('serve'), 'm');
  storedModel(model);
  sliding = path.join(tmp('serve'), 'native');
  storedModel(sliding, { resize: 'none' });
});

test('an invalid request target gets 400 and the server keeps serving', async () => {
  const s = await serve(model);
  for (const target of ['//[', 'http://[::1', '//a:99999/']) {
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(s.port, '127.0.0.1', () => sock.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
      let b = '';
      sock.setTimeout(2000, () => sock.destroy(new Error('no answer')));
      sock.on('data', (c) => (b += c));
      sock.on('end', () => resolve(b));
      sock.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect(reply).toContain('VNET_E_BAD_URL');
  }
  await healthy(s);
  expect(await stop(s)).toBe(0);
});

test('a small gzip body declaring a huge volume is refused from its header: 413, no inflation, /health answers', async () => {
  const s = await serve(model);
  // 127 KiB of gzip that inflates to 1 GiB of zeros, behind a header declaring 1024x1024x1024 uint8.
  const header = Buffer.from(nifti([8, 8, 8], (dv) => { dv.setInt16(42, 1024, true); dv.setInt16(44, 1024, true); dv.setInt16(46, 1024, true); dv.setInt16(70, 2, true); dv.setInt16(72, 8, true); }).subarray(0, 352));
  const gz = zlib.gzipSync(Buffer.concat([header, Buffer.alloc(128 << 20)]), { level: 9 });
  const r = await call(`${s.url}/predict`, { body: gz, timeoutMs: 5000 });
  expect([r.status, r.body]).toEqual([413, expect.stringContaining('--max_voxels')]);
  expect(r.body).toContain('VNET_E_TOO_LARGE');
  await healthy(s);
  expect(peakMb(s.child)).toBeLessThan(600);
  expect(await stop(s)).toBe(0);
});

test('clients that send headers and one byte are cut by the idle timeout; valid requests are then served, and SIGTERM does not wait for them', async () => {
  const s = await serve(model, ['--max_queue', '2', '--idle_timeout_s', '1', '--request_timeout_s', '4']);
  const body = Buffer.from(nifti([16, 16, 16]));
  const closed: boolean[] = [];
  const slowClient = (i: number) => {
    const sock = net.connect(s.port, '127.0.0.1', () => sock.write(`POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.byteLength}\r\n\r\n\x5c`));
    sock.on('error', () => undefined).on('close', () => (closed[i] = true)).resume();
    return sock;
  };
  const slow = Array.from({ length: 4 }, (_, i) => slowClient(i));
  await healthy(s, 2);
  // Within a few seconds the slow clients are gone and a valid request is answered.
  let ok = 0;
  for (let i = 0; i < 20 && !ok; i++) {
    const r = await call(`${s.url}/predict`, { body, timeoutMs: 10_000 });
    if (r.status === 200) ok = 1;
    else { expect([r.status, r.body]).toEqual([503, expect.stringContaining('VNET_E_QUEUE_FULL')]); await new Promise((res) => setTimeout(res, 500)); }
  }
  expect(ok).toBe(1);
  // The server closes every slow connection within the request timeout (4 s) and its 1 s check.
  for (let i = 0; i < 60 && closed.filter(Boolean).length < 4; i++) await new Promise((r) => setTimeout(r, 100));
  expect(closed.filter(Boolean).length).toBe(4);
  // New slow clients, then SIGTERM: the server does not wait on them past the idle timeout.
  const late = [slowClient(4), slowClient(5)];
  await new Promise((r) => setTimeout(r, 200));
  expect(await stop(s, 5000)).toBe(0);
  for (const c of [...slow, ...late]) c.destroy();
});

test('a large request to a sliding-window model: /health and /metrics answer while it runs, and SIGTERM ends it within the grace', async () => {
  const s = await serve(sliding, ['--shutdown_grace_s', '2']);
  // A 2 KiB gzip body declaring 96^3 uint8 (a few thousand windows of the 16^3 net).
  const header = Buffer.from(nifti([8, 8, 8], (dv) => { dv.setInt16(42, 96, true); dv.setInt16(44, 96, true); dv.setInt16(46, 96, true); dv.setInt16(70, 2, true); dv.setInt16(72, 8, true); }).subarray(0, 352));
  const gz = zlib.gzipSync(Buffer.concat([header, Buffer.alloc(96 ** 3, 1)]), { level: 9 });
  expect(gz.byteLength).toBeLessThan(4096);
  const big = call(`${s.url}/predict`, { body: gz, timeoutMs: CASE_LIMIT_MS }).catch((e: Error) => ({ status: -1, body: e.message, ms: 0 }));
  await new Promise((r) => setTimeout(r, 1000)); // the forward passes have started
  await healthy(s, 5, 200);
  const m = await call(`${s.url}/metrics`, { timeoutMs: 1000 });
  expect(m.status).toBe(200);
  expect(m.body).toMatch(/vnet_queue_depth 1/);
  const t0 = Date.now();
  expect(await stop(s, 8000)).toBe(0);
  expect(Date.now() - t0).toBeLessThan(8000);
  const r = await big;
  // It either finished inside the grace (200) or was ended by it (503); never left hanging.
  expect([200, 503, -1]).toContain(r.status);
  if (r.status === 503) expect(r.body).toContain('VNET_E_SHUTTING_DOWN');
});

test('the per-request voxel budget refuses a body from its header before any work', async () => {
  const s = await serve(sliding, ['--max_voxels', '100000']);
  const header = Buffer.from(nifti([8, 8, 8], (dv) => { dv.setInt16(42, 96, true); dv.setInt16(44, 96, true); dv.setInt16(46, 96, true); dv.setInt16(70, 2, true); dv.setInt16(72, 8, true); }).subarray(0, 352));
  const r = await call(`${s.url}/predict`, { body: zlib.gzipSync(Buffer.concat([header, Buffer.alloc(96 ** 3, 1)])), timeoutMs: 2000 });
  expect(r.status).toBe(413);
  expect(r.body).toMatch(/96x96x96 x 1 volume\(s\) = 884736 voxels, over the 100000 .*--max_voxels/);
  await healthy(s);
  expect(await stop(s)).toBe(0);
});

test('serve flags out of range are refused by name before anything starts', () => {
  for (const [flag, v] of [['--max_body_mb', '1e-9'], ['--max_body_mb', 'Infinity'], ['--workers', '100000'], ['--max_voxels', '0'], ['--idle_timeout_s', '-1'], ['--request_timeout_s', '1e9'], ['--shutdown_grace_s', '0']]) {
    expectRefused(cli(['serve', '--model_dir', model, '--port', '0', flag, v]), { exit: 1, code: 'VNET_E_BAD_FLAG', names: [flag], maxMs: 10_000 });
  }
}, CASE_LIMIT_MS);
