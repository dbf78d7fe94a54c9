// `vnet-native serve` as a user runs it: it prints where it listens, answers with predict's mask,
// and on SIGTERM stops accepting, finishes the request in flight and exits 0; a missing model
// is a clear error with exit 1.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CLI, runCli, tmpDir } from '../cli/helpers.js';
import { heldUpload, predict, request, tinyModel, type TinyModel } from './helpers.js';

let tiny: TinyModel;
beforeAll(() => {
  tiny = tinyModel(2);
});

/** Start `serve` on a free port; resolves with its URL once it answers /health with 200. */
async function serve(args: string[]): Promise<{ child: ChildProcess; url: string; stderr: () => string; exit: Promise<number | null> }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { env: { ...process.env, VNET_NUM_THREADS: '2' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const t0 = Date.now();
  let url: string | undefined;
  while (Date.now() - t0 < 60_000) {
    url ??= out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/)?.[1];
    if (url && (await request(`${url}/health`).catch(() => undefined))?.status === 200) return { child, url, stderr: () => err, exit };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`serve did not become ready:\n${out}\n${err}`);
}

test('SIGTERM while a request is in flight: it completes with the right mask, new connections are refused, exit 0', async () => {
  const s = await serve(['--model_dir', tiny.model]);
  const first = await predict(s.url, fs.readFileSync(tiny.cases[0].image));
  expect(first.body.equals(tiny.cases[0].mask)).toBe(true);
  // The signal arrives while the second upload is half-way.
  const inflight = heldUpload(s.url, fs.readFileSync(tiny.cases[1].image));
  await inflight.sent;
  s.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  await expect(request(`${s.url}/health`)).rejects.toThrow(/ECONNREFUSED|ECONNRESET/);
  const r = await inflight.finish();
  expect(r.status).toBe(200);
  expect(r.body.equals(tiny.cases[1].mask)).toBe(true);
  expect(await s.exit).toBe(0);
  expect(s.stderr()).toMatch(/SIGTERM: not accepting new connections; finishing 1 request/);
  expect(s.stderr()).toMatch(/stopped/);
});

test('16 concurrent requests are all answered with predict\'s masks, sharing forward passes', async () => {
  const s = await serve(['--model_dir', tiny.model, '--max_batch', '8', '--batch_window_ms', '20']);
  try {
    const bodies = tiny.cases.map((c) => fs.readFileSync(c.image));
    const rs = await Promise.all(Array.from({ length: 16 }, (_, i) => predict(s.url, bodies[i % 2])));
    rs.forEach((r, i) => expect([r.status, r.body.equals(tiny.cases[i % 2].mask)]).toEqual([200, true]));
    const m = (await request(`${s.url}/metrics`)).body.toString();
    const passes = Number(m.match(/vnet_batch_size_count (\d+)/)![1]);
    expect(Number(m.match(/vnet_batch_size_sum (\d+)/)![1])).toBe(16);
    expect(passes).toBeLessThan(16);
    expect(Math.max(...rs.map((r) => Number(r.headers['x-vnet-batch-size'])))).toBeGreaterThan(1);
  } finally {
    s.child.kill('SIGTERM');
    await s.exit;
  }
});

test('SIGINT on an idle server exits 0', async () => {
  const s = await serve(['--model_dir', tiny.model, '--max_batch', '1']);
  s.child.kill('SIGINT');
  expect(await s.exit).toBe(0);
});

test('a folder without a trained model, and a bad flag, are clear errors with exit 1', () => {
  const empty = path.join(tmpDir('serve'), 'none');
  const r = runCli(['serve', '--model_dir', empty, '--port', '0']);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/VNET_E_NO_MODEL.*--model_dir .*none is neither a model folder nor a shipped model; shipped models: /);
  const c = runCli(['serve', '--model', tiny.model, '--cors', 'https://viewer.example/path']);
  expect(c.code).toBe(1);
  expect(c.stderr).toMatch(/--cors https:\/\/viewer\.example\/path: must be an origin/);
  const none = runCli(['serve', '--port', '0']);
  expect(none.code).toBe(2);
  expect(none.stderr).toMatch(/Missing required argument: model/);
  const b = runCli(['serve', '--model_dir', tiny.model, '--max_batch', '0']);
  expect(b.code).toBe(1);
  expect(b.stderr).toMatch(/--max_batch 0: must be a positive integer/);
  const ov = runCli(['serve', '--model_dir', tiny.model, '--overlap', '1.5']);
  expect(ov.code).toBe(1);
  expect(ov.stderr).toMatch(/--overlap 1.5: must be in \[0, 1\)/);
  const u = runCli(['serve', '--model_dir', tiny.model, '--max_bach', '2']);
  expect(u.code).toBe(2);
});
