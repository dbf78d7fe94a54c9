// The segmentation service under load: requests/s and p50 / p99 latency at concurrency 1, 4 and
// 16, with dynamic batching (--max_batch B) and without (--max_batch 1), against calling
// `vnet-native predict` once per file (what a user without a server would do). Both servers are
// the real CLI in child processes, started together and loaded in turn, `--reps` times each
// (medians of requests/s; latency percentiles over all reps), so that a busy machine hits both
// alike. The load comes from this process (closed loop: each of the `c` clients sends its next
// request when the previous one is answered). Real test images, the default model shape with
// random weights.
//   node dist/bench/serve.js [--requests 48] [--reps 3] [--max_batch 8] [--window_ms 10] [--predict_files 4] [--threads 2] [--json]
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { defaultDataDir, repoRoot } from '../src/data/index.js';
import { VNet, defaultVNetConfig } from '../src/nn/index.js';
import { saveCheckpoint } from '../src/infer/checkpoint.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
const nRequests = Number(opt('requests', '48'));
const maxBatch = opt('max_batch', '8');
const windowMs = opt('window_ms', '10');
const predictFiles = Number(opt('predict_files', '4'));
const reps = Number(opt('reps', '3'));
const threads = opt('threads', '2');
const cli = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const env = { ...process.env, VNET_NUM_THREADS: threads };

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vnet-bench-serve-'));
const data = defaultDataDir();
const images = fs.readdirSync(path.join(data, 'imagesTs')).filter((f) => f.endsWith('.nii.gz') && !f.startsWith('.')).sort().map((f) => path.join(data, 'imagesTs', f));
const bodies = images.map((f) => fs.readFileSync(f));

/** A model folder with the default shape and random weights. */
async function randomModel(): Promise<string> {
  const m = path.join(dir, 'model');
  fs.mkdirSync(m);
  const net = new VNet(defaultVNetConfig, { seed: 1 });
  fs.writeFileSync(path.join(m, 'config.json'), JSON.stringify({ version: 1, model: net.config, labels: [{ value: 0, name: 'background' }, { value: 1, name: 'Anterior' }, { value: 2, name: 'Posterior' }], loss: 'dice' }));
  await saveCheckpoint(m, 'final', net, undefined, { epoch: 0, step: 0, optimizer: 'rmsprop', history: { losses: [], evals: [] } });
  net.dispose();
  return m;
}

const pct = (v: number[], p: number) => { const s = [...v].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]; };

interface Row { what: string; concurrency: number; requests: number; rps: number; p50: number; p99: number; meanBatch?: number }

function post(url: string, body: Buffer, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(`${url}/predict`, { method: 'POST', agent, headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function load(url: string, c: number, n: number): Promise<{ lat: number[]; seconds: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: c });
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: c }, async () => {
    while (next < n) { const i = next++; lat.push(await post(url, bodies[i % bodies.length], agent)); }
  }));
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  return { lat, seconds };
}

async function metric(url: string, name: string): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => http.get(`${url}/metrics`, (res) => { let s = ''; res.on('data', (c) => (s += c)); res.on('end', () => resolve(s)); }).on('error', reject));
  return Number(text.match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1] ?? NaN);
}

interface Server { url: string; batch: string; stop: () => Promise<unknown> }

async function startServe(model: string, batch: string): Promise<Server> {
  const child = spawn(process.execPath, [cli, 'serve', '--model_dir', model, '--port', '0', '--max_batch', batch, '--batch_window_ms', windowMs, '--max_queue', '256'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c) => { out += c; const m = out.match(/listening on (\S+)/); if (m) resolve(m[1]); });
    child.on('exit', () => reject(new Error('serve exited')));
  });
  for (let i = 0; i < 120; i++) { // wait for the model
    const ok = await new Promise<boolean>((r) => http.get(`${url}/health`, (res) => { res.resume(); r(res.statusCode === 200); }).on('error', () => r(false)));
    if (ok) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  await load(url, 4, 8); // warm up
  return { url, batch, stop: () => { child.kill('SIGTERM'); return new Promise((r) => child.on('exit', r)); } };
}

async function measure(servers: Server[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const c of [1, 4, 16]) {
    const runs = servers.map(() => ({ rps: [] as number[], lat: [] as number[], passes: 0, cases: 0 }));
    for (let r = 0; r < reps; r++) {
      for (const [k, srv] of servers.entries()) {
        const [p0, c0] = [await metric(srv.url, 'vnet_batch_size_count'), await metric(srv.url, 'vnet_batch_size_sum')];
        const { lat, seconds } = await load(srv.url, c, nRequests);
        runs[k].rps.push(nRequests / seconds);
        runs[k].lat.push(...lat);
        runs[k].passes += (await metric(srv.url, 'vnet_batch_size_count')) - p0;
        runs[k].cases += (await metric(srv.url, 'vnet_batch_size_sum')) - c0;
      }
    }
    servers.forEach((srv, k) => {
      const what = srv.batch === '1' ? 'serve, no batching (--max_batch 1)' : `serve, dynamic batching (--max_batch ${srv.batch}, ${windowMs} ms)`;
      rows.push({ what, concurrency: c, requests: nRequests * reps, rps: pct(runs[k].rps, 50), p50: pct(runs[k].lat, 50), p99: pct(runs[k].lat, 99), meanBatch: runs[k].cases / runs[k].passes });
      process.stderr.write(`${what} c=${c}: ${rows.at(-1)!.rps.toFixed(2)} req/s\n`);
    });
  }
  return rows;
}

/** `vnet-native predict` on a one-image dataset, once per file: process start, model load, one mask. */
function predictPerFile(model: string): Row {
  const ds = JSON.parse(fs.readFileSync(path.join(data, 'dataset.json'), 'utf8')) as { training: { image: string; label: string }[] };
  const train = { image: path.resolve(data, ds.training[0].image), label: path.resolve(data, ds.training[0].label) };
  const lat: number[] = [];
  for (let i = 0; i < predictFiles; i++) {
    const d = path.join(dir, `one${i}`);
    fs.mkdirSync(d);
    // predict checks the whole dataset.json, which needs a training case too.
    fs.writeFileSync(path.join(d, 'dataset.json'), JSON.stringify({ name: 'one', labels: { 0: 'background', 1: 'Anterior', 2: 'Posterior' }, training: [train], test: [images[i % images.length]] }));
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [cli, 'predict', '--data_dir', d, '--model_dir', model, '--batch_size', '1', '--output_dir', path.join(d, 'out'), '--progress', 'false'], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`predict failed: ${r.stderr}`);
    lat.push(performance.now() - t0);
  }
  const total = lat.reduce((a, b) => a + b, 0) / 1000;
  return { what: '`vnet-native predict` once per file', concurrency: 1, requests: predictFiles, rps: predictFiles / total, p50: pct(lat, 50), p99: pct(lat, 99) };
}

const model = await randomModel();
const peer = predictPerFile(model);
const servers = [await startServe(model, '1'), await startServe(model, maxBatch)];
let rows: Row[];
try {
  rows = [peer, ...(await measure(servers))];
} finally {
  await Promise.all(servers.map((s) => s.stop()));
}
fs.rmSync(dir, { recursive: true, force: true });
if (args.includes('--json')) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
else {
  process.stdout.write(`${images.length} test images of ${path.basename(data)}, model ${defaultVNetConfig.inputShape.join('x')} (default shape, random weights), ${threads} engine threads, ${os.cpus().length} cores, ${reps} x ${nRequests} requests per row (requests/s: median of the ${reps})\n\n`);
  process.stdout.write('| how | concurrency | requests/s | p50 ms | p99 ms | mean batch |\n|---|---:|---:|---:|---:|---:|\n');
  for (const r of rows) process.stdout.write(`| ${r.what} | ${r.concurrency} | ${r.rps.toFixed(2)} | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} | ${r.meanBatch === undefined ? '' : r.meanBatch.toFixed(2)} |\n`);
}
