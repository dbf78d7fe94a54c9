// The viewer page: the handler serves the page and NiiVue from the package (and nothing else),
// and in headless Chromium the page loads with no network, sends a NIfTI file (raw body) and a
// DICOM series (multipart) to /predict, and shows the mask, the volume table and a download link.
// Here /predict is a small test server answering with a known mask (the case's own label).
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import type { ElementHandle } from 'puppeteer-core';
import { readDicomFiles, volumeToNifti } from '../../src/data/dicom/index.js';
import { encodeMask, readNifti, readNiftiLabels, type NiftiVolume } from '../../src/data/index.js';
import { pageHandler } from '../../src/serve/page/handler.js';
import { readUpload } from '../../src/serve/page/upload.js';
import { cleanupTmp, itIf, real, tmpDir } from '../data/helpers.js';
import { CHROMIUM, NO_CHROMIUM, launchChromium } from '../browser.js';
import { HAVE_PYDICOM, NO_PYDICOM, flipY, makeSeries } from '../dicom/helpers.js';

afterAll(cleanupTmp);

const LABELS = [{ value: 1, name: 'Anterior' }, { value: 2, name: 'Posterior' }];

/** The JSON /predict?format=json answers, for a known mask on `ref`'s grid. */
function answer(ref: Pick<NiftiVolume, 'header' | 'headerBytes' | 'shape'>, mask: Int32Array, image?: Uint8Array): object {
  const spacing = ref.header.pixdim.slice(1, 4);
  const mm3 = spacing[0] * spacing[1] * spacing[2];
  const labels = LABELS.map((l) => {
    const voxels = mask.filter((v) => v === l.value).length;
    return { value: l.value, name: l.name, voxels, volume_mm3: voxels * mm3 };
  });
  return {
    shape: ref.shape, spacing, labels,
    mask_base64: zlib.gzipSync(encodeMask(ref, mask)).toString('base64'),
    ...(image ? { image_base64: Buffer.from(image).toString('base64') } : {}),
  };
}

/** Page handler + a /predict that reads what the page sends (readUpload: a NIfTI body or a multipart DICOM series). */
async function testServer(log: string[]): Promise<{ url: string; close: () => Promise<void> }> {
  const page = pageHandler();
  const label = readNiftiLabels(real('001', 'label'));
  const server = http.createServer((req, res) => {
    if (page(req, res)) return;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const type = req.headers['content-type'] ?? '';
        log.push(`${req.method} ${req.url} ${type.split(';')[0]}`);
        if (req.url !== '/predict?format=json') return void res.writeHead(404).end('{}');
        const up = await readUpload(type, body);
        let out: object;
        if (up.kind === 'dicom') {
          log.push(`dicom files: ${up.files.length}`);
          const vol = readDicomFiles(up.files);
          out = answer(vol, flipY(label.data, label.shape), volumeToNifti(vol));
        } else {
          out = answer(readNifti(up.bytes), label.data);
        }
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(out));
      })().catch((e: Error) => res.writeHead(400, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: e.message, code: 'TEST' })));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, close: () => new Promise((r) => server.close(() => r())) };
}

describe('page handler', () => {
  it('serves the page and its assets, NiiVue from the package; leaves other requests alone', async () => {
    const srv = await testServer([]);
    try {
      const html = await fetch(`${srv.url}/`);
      expect(html.status).toBe(200);
      expect(html.headers.get('content-type')).toMatch(/text\/html/);
      expect(html.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
      const text = await html.text();
      // Every script and style the page names is local.
      const refs = [...text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
      expect(refs.filter((r) => /^(https?:)?\/\//.test(r))).toEqual([]);
      for (const r of refs.filter((x) => x.startsWith('assets/'))) expect((await fetch(`${srv.url}/${r}`)).status).toBe(200);
      const nv = await fetch(`${srv.url}/assets/niivue.js`);
      expect(nv.headers.get('content-type')).toMatch(/javascript/);
      expect((await nv.text()).length).toBeGreaterThan(1e6);
      expect((await fetch(`${srv.url}/assets/../package.json`)).status).toBe(404);
      expect((await fetch(`${srv.url}/assets/app.js`, { method: 'HEAD' })).headers.get('content-length')).toMatch(/^\d+$/);
      expect((await fetch(`${srv.url}/`, { method: 'POST' })).status).toBe(404);
    } finally {
      await srv.close();
    }
  });
});

describe('the page in headless Chromium', () => {
  itIf(CHROMIUM !== undefined && HAVE_PYDICOM, CHROMIUM ? NO_PYDICOM : NO_CHROMIUM)('loads offline, segments a NIfTI file and a DICOM series, shows the volumes', async () => {
    const log: string[] = [];
    const srv = await testServer(log);
    const shots = process.env.VNET_SCREENSHOT_DIR ?? tmpDir('shots');
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 900 });
      const outside: string[] = [];
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.setRequestInterception(true);
      page.on('request', (r) => {
        const u = r.url();
        if (u.startsWith(srv.url) || u.startsWith('blob:') || u.startsWith('data:')) return void r.continue();
        outside.push(u);
        void r.abort();
      });
      await page.goto(`${srv.url}/`, { waitUntil: 'load' });
      expect(await page.evaluate(() => typeof (window as unknown as { niivue?: unknown }).niivue)).toBe('object');

      const rows = () => page.$$eval('#volumes tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
      const done = async () => {
        await page.waitForFunction(() => {
          const st = document.querySelector('#status')!;
          return st.textContent!.startsWith('Done') || st.classList.contains('error');
        }, { timeout: 90_000 });
        expect(await page.$eval('#status', (e) => e.textContent)).toMatch(/^Done in/);
      };
      const label = readNiftiLabels(real('001', 'label'));
      const count = (v: number) => label.data.filter((x) => x === v).length;

      // A NIfTI file, through the file input.
      const input = async (sel: string) => (await page.$(sel)) as ElementHandle<HTMLInputElement>;
      await (await input('#file')).uploadFile(real('001'));
      await done();
      expect(await rows()).toEqual([
        ['1 Anterior', count(1).toLocaleString('en'), count(1).toFixed(1), (count(1) / 1000).toFixed(2)],
        ['2 Posterior', count(2).toLocaleString('en'), count(2).toFixed(1), (count(2) / 1000).toFixed(2)],
      ]);
      const state = () => page.evaluate(() => {
        const v = (window as unknown as { vnetViewer: { nv: { volumes: { hdr: { dims: number[] } }[] } } }).vnetViewer;
        const a = document.querySelector('#download') as HTMLAnchorElement;
        return { volumes: v.nv.volumes.map((x) => x.hdr.dims.slice(1, 4)), href: a.href.slice(0, 5), download: a.download };
      });
      expect(await state()).toEqual({ volumes: [[35, 51, 35], [35, 51, 35]], href: 'blob:', download: 'hippocampus_001_mask.nii.gz' });
      await page.screenshot({ path: path.join(shots, 'page-nifti.png') });
      expect(log).toContain('POST /predict?format=json application/octet-stream');

      // A DICOM series (pydicom-written), as several files: sent as multipart.
      const s = makeSeries('single');
      await page.$eval('#status', (e) => { e.textContent = ''; });
      await (await input('#files')).uploadFile(...fs.readdirSync(s.dir).map((f) => path.join(s.dir, f)));
      await done();
      expect(log).toContain('POST /predict?format=json multipart/form-data');
      expect(log).toContain(`dicom files: ${s.shape[2]}`);
      const vox = (s.spacing[0] * s.spacing[1] * s.spacing[2]);
      expect((await rows()).map((r) => r.slice(0, 3))).toEqual([
        ['1 Anterior', count(1).toLocaleString('en'), (count(1) * vox).toFixed(1)],
        ['2 Posterior', count(2).toLocaleString('en'), (count(2) * vox).toFixed(1)],
      ]);
      expect((await state()).download).toBe('dicom_mask.nii.gz');
      await page.screenshot({ path: path.join(shots, 'page-dicom.png') });

      expect(outside).toEqual([]);
      expect(errors).toEqual([]);
      expect(await page.$eval('#status', (e) => e.classList.contains('error'))).toBe(false);
    } finally {
      await browser.close();
      await srv.close();
    }
  });
});
