// The real service as browsers use it: the viewer page at / segments a case with the model and
// shows the volumes /predict measured; a DICOM series uploaded as multipart comes back with the
// image the server read (image_base64); --cors lets a page of another origin call the API, and
// without it the browser refuses (checked in headless Chromium, not only by headers).
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import type { ElementHandle } from 'puppeteer-core';
import { readDicomFolder } from '../../src/data/dicom/index.js';
import { readNifti } from '../../src/data/index.js';
import { createSegmenter, startServer, type SegmentServer } from '../../src/serve/index.js';
import { itIf, tmpDir } from '../data/helpers.js';
import { CHROMIUM, NO_CHROMIUM, launchChromium } from '../browser.js';
import { HAVE_PYDICOM, NO_PYDICOM, makeSeries } from '../dicom/helpers.js';
import { request, tinyModel, type TinyModel } from './helpers.js';

const ORIGIN_PAGE = '<!DOCTYPE html><html><body>another site</body></html>';
let tiny: TinyModel;
let open: SegmentServer;
let plain: SegmentServer;
let other: http.Server;
let otherUrl: string;

beforeAll(async () => {
  tiny = tinyModel(1);
  other = http.createServer((_, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end(ORIGIN_PAGE));
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
  open = await startServer(await createSegmenter({ modelDir: tiny.model, batchSize: 1 }), { port: 0, cors: otherUrl });
  plain = await startServer(await createSegmenter({ modelDir: tiny.model, batchSize: 1 }), { port: 0 });
}, 300_000);

afterAll(async () => {
  await open?.close();
  await plain?.close();
  await new Promise((r) => other?.close(r));
});

test('--cors: the preflight is answered and every response carries the origin', async () => {
  const pre = await request(`${open.url}/predict`, { method: 'OPTIONS', headers: { Origin: otherUrl, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' } });
  expect(pre.status).toBe(204);
  expect(pre.headers['access-control-allow-origin']).toBe(otherUrl);
  expect(pre.headers['access-control-allow-methods']).toMatch(/POST/);
  expect(pre.headers['access-control-allow-headers']).toMatch(/Content-Type/i);
  const r = await request(`${open.url}/predict`, { body: fs.readFileSync(tiny.cases[0].image) });
  expect(r.status).toBe(200);
  expect(r.headers['access-control-allow-origin']).toBe(otherUrl);
  expect(r.headers['access-control-expose-headers']).toMatch(/X-Vnet-Volumes-Mm3/);
  // Errors too, so a page can read why.
  expect((await request(`${open.url}/predict`, { body: Buffer.alloc(10) })).headers['access-control-allow-origin']).toBe(otherUrl);
  // Without --cors, an OPTIONS is no route and nothing grants access.
  const no = await request(`${plain.url}/predict`, { method: 'OPTIONS' });
  expect(no.status).toBe(405);
  expect(no.headers['access-control-allow-origin']).toBeUndefined();
});

itIf(HAVE_PYDICOM, NO_PYDICOM)('a DICOM series as multipart: the mask and the image the server read', async () => {
  const s = makeSeries('multiframe');
  const form = new FormData();
  for (const f of fs.readdirSync(s.dir)) form.append('file', new Blob([new Uint8Array(fs.readFileSync(path.join(s.dir, f)))]), f);
  const req = new Request('http://x.invalid/', { method: 'POST', body: form });
  const r = await request(`${plain.url}/predict?format=json`, { body: new Uint8Array(await req.arrayBuffer()), headers: { 'Content-Type': req.headers.get('content-type')! } });
  expect(r.status).toBe(200);
  const j = r.json() as { shape: number[]; image_base64: string; mask_base64: string };
  expect(j.shape).toEqual(s.shape);
  const image = readNifti(zlib.gunzipSync(Buffer.from(j.image_base64, 'base64')));
  const vol = readDicomFolder(s.dir);
  expect(image.shape).toEqual(vol.shape);
  expect(Buffer.from(image.data.buffer).equals(Buffer.from(vol.data.buffer))).toBe(true);
  expect(readNifti(Buffer.from(j.mask_base64, 'base64')).shape).toEqual(vol.shape);
});

describe('in headless Chromium', () => {
  itIf(CHROMIUM !== undefined, NO_CHROMIUM)('the page at / segments a case with the model and shows its volumes; CORS as browsers enforce it', async () => {
    const browser = await launchChromium();
    const shots = process.env.VNET_SCREENSHOT_DIR ?? tmpDir('shots');
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 900 });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`${plain.url}/`, { waitUntil: 'load' });
      await ((await page.$('#file')) as ElementHandle<HTMLInputElement>).uploadFile(tiny.cases[0].image);
      await page.waitForFunction(() => /^(Done|Could not)/.test(document.querySelector('#status')!.textContent!), { timeout: 90_000 });
      expect(await page.$eval('#status', (e) => e.textContent)).toMatch(/^Done in/);
      const rows = await page.$$eval('#volumes tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
      // The table shows what /predict measured for the same file.
      const j = (await request(`${plain.url}/predict?format=json`, { body: fs.readFileSync(tiny.cases[0].image) })).json() as { labels: { value: number; name: string; voxels: number }[] };
      expect(rows.map((r) => r.slice(0, 2))).toEqual(j.labels.filter((l) => l.value > 0).map((l) => [`${l.value} ${l.name}`, l.voxels.toLocaleString('en')]));
      await page.screenshot({ path: path.join(shots, 'page-served.png') });
      expect(errors).toEqual([]);

      // A page of another origin calls the API: allowed by --cors, refused by the browser without it.
      await page.goto(otherUrl, { waitUntil: 'load' });
      const call = (api: string) => page.evaluate(async (u) => {
        try {
          const r = await fetch(`${u}/info`);
          return `ok ${r.status}`;
        } catch (e) {
          return `refused ${(e as Error).name}`;
        }
      }, api);
      expect(await call(open.url)).toBe('ok 200');
      expect(await call(plain.url)).toBe('refused TypeError');
    } finally {
      await browser.close();
    }
  });
});
