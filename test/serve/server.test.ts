// The segmentation service through real HTTP on 127.0.0.1 (in this process): the same masks as
// predict, concurrent and batched requests, every kind of bad input, the queue limit, readiness,
// metrics, a native failure confined to its request, and no growth of live tensors.
import fs from 'node:fs';
import http from 'node:http';
import zlib from 'node:zlib';
import * as E from '../../src/engine/index.js';
import { dataOffset, readNifti } from '../../src/data/index.js';
import { VNet } from '../../src/nn/index.js';
import { Segmenter, createSegmenter, startServer, type SegmentServer } from '../../src/serve/index.js';
import { NIFTI, heldUpload, predict, request, tinyModel, type TinyModel } from './helpers.js';

let tiny: TinyModel;
let srv: SegmentServer;
let url: string;

beforeAll(async () => {
  tiny = tinyModel(4);
  const seg = await createSegmenter({ modelDir: tiny.model, batchSize: 8, batchWindowMs: 20, only3d: true });
  srv = await startServer(seg, { port: 0, maxBodyMb: 1, maxQueue: 32 });
  url = srv.url;
  await srv.ready;
});

afterAll(async () => {
  await srv?.close();
});

/** A raw (uncompressed) copy of a test image. */
const raw = (i: number) => zlib.gunzipSync(fs.readFileSync(tiny.cases[i].image));

test('the mask is predict\'s, byte for byte, from a .nii.gz or a .nii body; counts and volumes agree with it', async () => {
  for (const [i, c] of tiny.cases.entries()) {
    const r = await predict(url, fs.readFileSync(c.image));
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/gzip');
    expect(r.body.equals(c.mask)).toBe(true);
    const plain = await predict(url, raw(i));
    expect(plain.body.equals(c.mask)).toBe(true);
    const mask = readNifti(c.mask);
    const counts = [0, 1, 2].map((v) => mask.data.filter((x) => x === v).length);
    expect(r.headers['x-vnet-voxels']).toBe(`background=${counts[0]};Anterior=${counts[1]};Posterior=${counts[2]}`);
    expect(r.headers['x-vnet-shape']).toBe(mask.shape.join(','));
    const j = (await predict(url, fs.readFileSync(c.image), '?format=json')).json() as { labels: { voxels: number; volume_mm3: number }[]; mask_base64: string; spacing: number[] };
    const vox = j.spacing[0] * j.spacing[1] * j.spacing[2];
    expect(j.labels.map((l) => l.voxels)).toEqual(counts);
    j.labels.forEach((l) => expect(l.volume_mm3).toBeCloseTo(l.voxels * vox, 6));
    expect(Buffer.from(j.mask_base64, 'base64').equals(c.mask)).toBe(true);
  }
});

test('as a library call: segment(path) and segmentBatch give the same masks', async () => {
  const seg = await createSegmenter({ modelDir: tiny.model, batchSize: 3 });
  try {
    const one = await seg.segment(tiny.cases[1].image);
    expect(Buffer.from(one.mask).equals(tiny.cases[1].mask)).toBe(true);
    const all = await seg.segmentBatch(tiny.cases.map((c) => c.image));
    all.forEach((s, i) => expect(Buffer.from(s.mask).equals(tiny.cases[i].mask)).toBe(true));
    expect(all.map((s) => s.batchSize)).toEqual([3, 3, 3, 1]);
  } finally {
    await seg.dispose();
  }
});

// (Batches shared across requests are checked through the CLI, where reading runs in worker threads.)
test('16 concurrent requests are all answered correctly', async () => {
  const bodies = tiny.cases.map((c) => fs.readFileSync(c.image));
  const rs = await Promise.all(Array.from({ length: 16 }, (_, i) => predict(url, bodies[i % 4])));
  rs.forEach((r, i) => {
    expect(r.status).toBe(200);
    expect(r.body.equals(tiny.cases[i % 4].mask)).toBe(true);
  });
});

test('bad input gets a JSON error with a 4xx status and the next request is served', async () => {
  const gz = fs.readFileSync(tiny.cases[0].image);
  const four = Buffer.from(raw(0));
  // A 4-D file: dim[0] = 4 with two volumes.
  const hdr = readNifti(tiny.cases[0].image).header;
  expect([hdr.headerSize, hdr.littleEndian]).toEqual([348, true]);
  const off = dataOffset(hdr);
  const fourD = Buffer.concat([four.subarray(0, off), four.subarray(off), four.subarray(off)]);
  fourD.writeInt16LE(4, 40); // dim[0]
  fourD.writeInt16LE(2, 48); // dim[4]
  const cases: [string, () => ReturnType<typeof request>, number, string][] = [
    ['random bytes', () => predict(url, Buffer.from(Array.from({ length: 2000 }, (_, i) => (i * 37) % 251))), 400, 'VNET_E_NOT_IMAGE'],
    ['a gzip that is not a NIfTI', () => predict(url, zlib.gzipSync(Buffer.alloc(4000, 3))), 400, 'VNET_E_CORRUPT_FILE'],
    ['a truncated .nii.gz', () => predict(url, gz.subarray(0, gz.length >> 1)), 400, 'VNET_E_CORRUPT_FILE'],
    ['a truncated .nii', () => predict(url, four.subarray(0, 5000)), 400, 'VNET_E_CORRUPT_FILE'],
    ['an empty body', () => predict(url, Buffer.alloc(0)), 400, 'VNET_E_EMPTY_BODY'],
    ['bytes that are neither NIfTI nor DICOM, whatever the type says', () => request(`${url}/predict`, { body: Buffer.from('x'.repeat(400)), headers: { 'Content-Type': 'application/gzip' } }), 400, 'VNET_E_NOT_IMAGE'],
    ['a multipart body with a NIfTI and a text file', () => multipart([['a.nii.gz', gz], ['notes.txt', Buffer.from('hello')]]), 400, 'VNET_E_NOT_DICOM'],
    ['a 4-D volume', () => predict(url, fourD), 422, 'VNET_E_NOT_3D'],
    ['an oversized body', () => predict(url, Buffer.alloc(1.5 * 2 ** 20, 7)), 413, 'VNET_E_BODY_TOO_LARGE'],
    ['an oversized chunked body', () => request(`${url}/predict`, { body: Buffer.alloc(1.5 * 2 ** 20, 7), headers: NIFTI, chunked: true }), 413, 'VNET_E_BODY_TOO_LARGE'],
    ['GET /predict', () => request(`${url}/predict`), 405, 'VNET_E_METHOD'],
    ['an unknown route', () => request(`${url}/nope`), 404, 'VNET_E_NOT_FOUND'],
    ['a bad ?format', () => predict(url, gz, '?format=xml'), 400, 'VNET_E_FORMAT'],
  ];
  for (const [what, send, status, code] of cases) {
    const r = await send();
    expect([what, r.status]).toEqual([what, status]);
    expect([what, r.json().code]).toEqual([what, code]);
    expect(typeof r.json().error).toBe('string');
    const ok = await predict(url, gz);
    expect([what, ok.status]).toEqual([what, 200]);
  }
});

/** POST the files as multipart/form-data, as a browser's FormData or `curl -F` sends them. */
async function multipart(files: [string, Buffer][], query = ''): Promise<Awaited<ReturnType<typeof request>>> {
  const form = new FormData();
  for (const [name, b] of files) form.append('file', new Blob([new Uint8Array(b)]), name);
  const req = new Request('http://x.invalid/', { method: 'POST', body: form });
  return request(`${url}/predict${query}`, { body: new Uint8Array(await req.arrayBuffer()), headers: { 'Content-Type': req.headers.get('content-type')! } });
}

test('any content type whose bytes are NIfTI, and a multipart upload, give predict\'s mask', async () => {
  const gz = fs.readFileSync(tiny.cases[0].image);
  // curl --data-binary's default type, a browser's guess for .gz, and none at all.
  for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'application/x-gzip', undefined]) {
    const r = await request(`${url}/predict`, { body: gz, headers: type ? { 'Content-Type': type } : {} });
    expect([type, r.status]).toEqual([type, 200]);
    expect(r.body.equals(tiny.cases[0].mask)).toBe(true);
  }
  const m = await multipart([['case.nii.gz', gz]]);
  expect(m.status).toBe(200);
  expect(m.body.equals(tiny.cases[0].mask)).toBe(true);
});

test('GET / is the viewer page; other routes are unchanged', async () => {
  const r = await request(`${url}/`);
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toMatch(/text\/html/);
  expect(r.body.toString()).toMatch(/assets\/niivue\.js/);
  expect((await request(`${url}/health`)).json()).toEqual({ status: 'ok' });
  // Same origin only by default: no CORS headers.
  expect(r.headers['access-control-allow-origin']).toBeUndefined();
});

test('a client that disconnects mid-upload does not wedge the server', async () => {
  const before = srv.metrics.render().match(/vnet_errors_total\{code="VNET_E_CLIENT_GONE"\} (\d+)/)?.[1] ?? '0';
  await new Promise<void>((resolve) => {
    const req = http.request(`${url}/predict`, { method: 'POST', headers: { ...NIFTI, 'Content-Length': 200000 }, agent: false });
    req.on('error', () => resolve());
    req.write(Buffer.alloc(20000, 1), () => setTimeout(() => { req.destroy(); resolve(); }, 50));
  });
  await new Promise((r) => setTimeout(r, 100));
  const after = srv.metrics.render().match(/vnet_errors_total\{code="VNET_E_CLIENT_GONE"\} (\d+)/)?.[1];
  expect(Number(after)).toBe(Number(before) + 1);
  expect(srv.metrics.render()).toMatch(/vnet_queue_depth 0/);
  const ok = await predict(url, fs.readFileSync(tiny.cases[0].image));
  expect(ok.status).toBe(200);
});

test('/health, /info and /metrics', async () => {
  expect((await request(`${url}/health`)).json()).toEqual({ status: 'ok' });
  const info = (await request(`${url}/info`)).json() as { labels: { name: string }[]; model: { inputShape: number[] }; device: string; max_queue: number; max_batch: number; version: string };
  expect(info.labels.map((l) => l.name)).toEqual(['background', 'Anterior', 'Posterior']);
  expect(info.model.inputShape).toEqual([16, 16, 16]);
  expect(info.device).toBe('cpu');
  expect([info.max_queue, info.max_batch]).toEqual([32, 8]);
  expect(info.version).toBe(JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
  const m = (await request(`${url}/metrics`)).body.toString();
  expect(m).toMatch(/vnet_requests_total\{route="\/predict",status="200"\} \d+/);
  expect(m).toMatch(/vnet_errors_total\{code="VNET_E_CORRUPT_FILE"\} [1-9]/);
  expect(m).toMatch(/vnet_request_duration_seconds_bucket\{le="\+Inf"\} \d+/);
  expect(m).toMatch(/vnet_batch_size_count \d+/);
  expect(m).toMatch(/vnet_queue_depth 0/);
  // Every segmentation so far ran in some forward pass (the library test's batches included).
  expect(Number(m.match(/vnet_batch_size_sum (\d+)/)![1])).toBeGreaterThanOrEqual(Number(m.match(/vnet_requests_total\{route="\/predict",status="200"\} (\d+)/)![1]));
});

test('/health is 503 until the model is loaded; /predict says so too', async () => {
  let done: (s: Segmenter) => void = () => undefined;
  const later = new Promise<Segmenter>((r) => (done = r));
  const s = await startServer(later, { port: 0 });
  try {
    const h = await request(`${s.url}/health`);
    expect([h.status, h.json().status]).toEqual([503, 'loading']);
    const p = await predict(s.url, fs.readFileSync(tiny.cases[0].image));
    expect([p.status, p.json().code, p.headers['retry-after']]).toEqual([503, 'VNET_E_NOT_READY', '1']);
    done(await createSegmenter({ modelDir: tiny.model }));
    await s.ready;
    expect((await request(`${s.url}/health`)).status).toBe(200);
  } finally {
    await s.close();
  }
});

test('a full queue answers 503 with Retry-After; the accepted requests complete', async () => {
  const seg = await createSegmenter({ modelDir: tiny.model, batchSize: 8 });
  const s = await startServer(seg, { port: 0, maxQueue: 2 });
  try {
    const body = fs.readFileSync(tiny.cases[0].image);
    // Two uploads held half-way fill the queue.
    const held = [heldUpload(s.url, body), heldUpload(s.url, body)];
    await Promise.all(held.map((h) => h.sent));
    const full = await Promise.all(Array.from({ length: 4 }, () => predict(s.url, body)));
    full.forEach((r) => expect([r.status, r.json().code, r.headers['retry-after']]).toEqual([503, 'VNET_E_QUEUE_FULL', '1']));
    const ok = await Promise.all(held.map((h) => h.finish()));
    ok.forEach((r) => expect([r.status, r.body.equals(tiny.cases[0].mask)]).toEqual([200, true]));
    expect((await predict(s.url, body)).status).toBe(200);
  } finally {
    await s.close();
  }
});

test('a native error fails its own request only, also inside a shared batch', async () => {
  const net = new VNet({ inputShape: [16, 16, 16], downscaleBlocks: [1, 1], upscaleBlocks: [1] }, { seed: 3 });
  const forward = net.forward.bind(net);
  // A constant image z-scores to all zeros: make such a sample fail as a native error would.
  net.forward = (x: E.Tensor) => {
    const v = x.toArray() as Float32Array, per = v.length / x.shape[0];
    for (let s = 0; s < x.shape[0]; s++) if (v.subarray(s * per, (s + 1) * per).every((a) => a === 0)) throw Object.assign(new Error('injected failure'), { code: 'VNET_E_TEST' });
    return forward(x);
  };
  const seg = new Segmenter(net, [{ value: 0, name: 'bg' }, { value: 1, name: 'a' }, { value: 2, name: 'b' }], { batchSize: 4, batchWindowMs: 100, ownNet: true });
  const s = await startServer(seg, { port: 0 });
  try {
    const good = fs.readFileSync(tiny.cases[0].image);
    const flat = Buffer.from(raw(0));
    flat.fill(0, dataOffset(readNifti(flat).header));
    const rs = await Promise.all([good, flat, good, good].map((b) => predict(s.url, b)));
    expect(rs.map((r) => r.status)).toEqual([200, 500, 200, 200]);
    expect(rs[1].json().code).toBe('VNET_E_TEST');
    expect((await predict(s.url, good)).status).toBe(200);
  } finally {
    await s.close();
  }
});

test('200 requests leave no live tensors or bytes behind', async () => {
  const body = fs.readFileSync(tiny.cases[2].image);
  await Promise.all(Array.from({ length: 8 }, () => predict(url, body))); // warm up
  const before = E.memory().cpu;
  for (let round = 0; round < 25; round++) {
    const rs = await Promise.all(Array.from({ length: 8 }, () => predict(url, body)));
    expect(rs.every((r) => r.status === 200)).toBe(true);
  }
  const after = E.memory().cpu;
  // No growth; fewer is possible when the finalizer backstop frees garbage left by earlier tests.
  expect(after.tensors).toBeLessThanOrEqual(before.tensors);
  expect(after.bytes).toBeLessThanOrEqual(before.bytes);
});
