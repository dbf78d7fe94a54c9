// report.html for people: results first, per class and per case; one colour per label in ground
// truth, prediction, tables and charts; legends off the plots; markers for short runs; the
// configuration folded at the end with no "undefined"; predict's flavour (volumes, no metrics);
// and the page as Chromium renders it (a screenshot, looked at when VNET_SCREENSHOT_DIR is set).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { readNifti, readNiftiLabels } from '../../src/data/index.js';
import { PALETTE, renderReport, ticks, type ReportInput } from '../../src/report/index.js';
import { summarize } from '../../src/eval/metrics.js';
import { CHROMIUM, NO_CHROMIUM, launchChromium } from '../browser.js';
import { cleanupTmp, itData, itIf, real, tmpDir } from '../data/helpers.js';

afterAll(cleanupTmp);

const LABELS = [{ value: 0, name: 'background' }, { value: 1, name: 'Anterior' }, { value: 2, name: 'Posterior' }];

/** Decodes the PNGs the report embeds (8-bit RGB, filter 0 on every row, as src/report/png.ts writes). */
function decodePng(b: Buffer): { w: number; h: number; px: (x: number, y: number) => string } {
  let at = 8;
  let w = 0, h = 0;
  const idat: Buffer[] = [];
  while (at < b.length) {
    const len = b.readUInt32BE(at);
    const type = b.toString('latin1', at + 4, at + 8);
    const data = b.subarray(at + 8, at + 8 + len);
    if (type === 'IHDR') { w = data.readUInt32BE(0); h = data.readUInt32BE(4); }
    if (type === 'IDAT') idat.push(data);
    at += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  return { w, h, px: (x, y) => { const o = y * (3 * w + 1) + 1 + 3 * x; return `${raw[o]},${raw[o + 1]},${raw[o + 2]}`; } };
}

/** Every distinct colour in columns [x0, x1) of the PNG. */
function colours(p: ReturnType<typeof decodePng>, x0: number, x1: number): Set<string> {
  const out = new Set<string>();
  for (let y = 0; y < p.h; y++) for (let x = x0; x < x1; x++) out.add(p.px(x, y));
  return out;
}

function evaluated(): ReportInput {
  const img = readNifti(real('001'));
  const lab = readNiftiLabels(real('001', 'label'));
  // A prediction that misses part of the posterior label: the panels must differ there only.
  const pred = lab.data.map((v, i) => (v === 2 && i % 7 === 0 ? 0 : v));
  const other = readNiftiLabels(real('003', 'label'));
  const summary = summarize([
    { id: 'hippocampus_001', pred, ref: lab.data, shape: lab.shape, spacing: [1, 1, 1] },
    { id: 'hippocampus_003', pred: other.data.map(() => 0), ref: other.data, shape: other.shape, spacing: [1, 1, 1] },
    { id: 'hippocampus_004', pred: lab.data, ref: lab.data, shape: lab.shape, spacing: [1, 1, 1] },
  ], LABELS);
  return {
    title: 'vnet-native: hippocampus', labels: LABELS, summary,
    curves: { losses: [1, 2, 3, 4, 5, 6].map((s) => ({ step: s, loss: 1 / s })), evals: [{ epoch: 1, dice: { 1: 0.5, 2: 0.4 } }, { epoch: 2, dice: { 1: 0.7, 2: 0.6 } }] },
    overlays: [{ id: 'hippocampus_001', shape: lab.shape, image: img.data, label: lab.data, pred }],
    command: 'vnet-native train_and_evaluate --data_dir data --model_dir m',
    config: { batch_size: 2, threads: undefined, input_shape: [32, 32, 32], amp: false, lr: 1e-4 },
  };
}

describe('report.html', () => {
  itData('results come first, per class and per case (worst first); configuration folded last; no undefined', () => {
    const r = evaluated();
    const html = renderReport(r);
    expect(html).not.toMatch(/undefined|>NaN</);
    const at = (s: string) => html.indexOf(s);
    expect(at('<h2>Results</h2>')).toBeGreaterThan(0);
    expect(at('<h2>Results</h2>')).toBeLessThan(at('<h2>Ground truth and prediction</h2>'));
    expect(at('<h2>Ground truth and prediction</h2>')).toBeLessThan(at('<h2>Training</h2>'));
    expect(at('<h2>Training</h2>')).toBeLessThan(at('<details><summary>Configuration (4 settings)</summary>'));
    expect(html).not.toContain('threads');
    const m = r.summary!.mean;
    const perClass = html.slice(at('class="per-class"'), at('</table>'));
    expect(perClass).toContain(`Anterior</td><td>${m['1'].Dice.toFixed(4)}</td><td>${m['1'].HD95.toFixed(2)}</td>`);
    expect(perClass).toContain(`Posterior</td><td>${m['2'].Dice.toFixed(4)}</td><td>${m['2'].HD95.toFixed(2)}</td>`);
    const perCase = html.slice(at('class="per-case"'));
    const order = ['hippocampus_003', 'hippocampus_001', 'hippocampus_004'].map((c) => perCase.indexOf(`>${c}<`));
    expect(order.every((v, i) => v > 0 && (i === 0 || v > order[i - 1]))).toBe(true);
    // An empty prediction has no surface: its HD95 is shown as n/a or infinity, never NaN.
    expect(perCase.slice(0, perCase.indexOf('hippocampus_001'))).toMatch(/<td>0\.0000<\/td><td>(n\/a|∞)<\/td>/);
  });

  itData('one colour per label: ground truth and prediction panels, table swatches and Dice curves', () => {
    const r = evaluated();
    const html = renderReport(r);
    const css = (v: number) => `rgb(${PALETTE[v - 1].join(',')})`;
    expect(html).toContain(`<span class="sw" style="background:${css(1)}"></span>1 Anterior`);
    expect(html).toContain(`stroke="${css(2)}"`); // the Posterior Dice curve
    const png = decodePng(Buffer.from(/data:image\/png;base64,([^"]+)"/.exec(html)![1], 'base64'));
    const panel = png.w / 3; // three panels, with small gaps between them
    const [img, gt, pred] = [0, 1, 2].map((p) => colours(png, Math.floor(p * panel), Math.floor((p + 1) * panel)));
    for (const v of [1, 2]) {
      const c = PALETTE[v - 1].join(',');
      expect([img.has(c), gt.has(c), pred.has(c)]).toEqual([false, true, true]);
    }
  });

  it('charts: legends outside the plot, markers and end values for a short run, round ticks', () => {
    const html = renderReport({ title: 't', labels: LABELS, curves: { losses: [{ step: 1, loss: 0.9 }, { step: 2, loss: 0.5 }], evals: [{ epoch: 1, dice: { Anterior: 0.61 } }] } });
    const charts = html.split('<div class="chart">').slice(1);
    expect(charts).toHaveLength(2);
    for (const c of charts) {
      expect(c.indexOf('<div class="legend">')).toBeGreaterThan(c.indexOf('</svg>'));
      expect(c.slice(0, c.indexOf('</svg>'))).not.toContain('legend');
    }
    expect(charts[0].match(/<circle/g)).toHaveLength(2);
    expect(charts[1]).toContain('>0.61</text>'); // a single evaluation still shows, with its value
    expect(charts[1]).toContain(`1 Anterior`);
    expect(ticks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(ticks(1, 3, 6, true)).toEqual([1, 1.5, 2, 2.5, 3].filter(Number.isInteger));
  });

  itData("predict's report: volumes per case and image | prediction overlays, no metrics", () => {
    const img = readNifti(real('001'));
    const lab = readNiftiLabels(real('001', 'label'));
    const html = renderReport({
      title: 'predictions', labels: LABELS,
      volumes: [{ case: 'hippocampus_001', labels: [{ value: 1, voxels: 1324, volumeMm3: 1324 }, { value: 2, voxels: 1624, volumeMm3: 1624 }] }],
      overlays: [{ id: 'hippocampus_001', shape: lab.shape, image: img.data, pred: lab.data }],
    });
    expect(html).not.toContain('<h2>Results</h2>');
    expect(html).toContain('<td>hippocampus_001</td><td>1324.0</td><td>1324</td><td>1624.0</td><td>1624</td>');
    expect(html).toContain('image | prediction');
    expect(html).not.toMatch(/undefined|<details/);
  });

  itIf(CHROMIUM !== undefined && fs.existsSync(real('003')), CHROMIUM ? 'no data' : NO_CHROMIUM)('renders in Chromium without errors; a screenshot is taken', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.setViewport({ width: 1200, height: 900 });
      await page.setContent(renderReport(evaluated()), { waitUntil: 'load' });
      const shots = process.env.VNET_SCREENSHOT_DIR ?? tmpDir('shots');
      await page.screenshot({ path: path.join(shots, 'report.png'), fullPage: true });
      // Every embedded image decoded, and the per-class table is in the first screen.
      expect(await page.$$eval('img', (els) => els.every((e) => (e as HTMLImageElement).naturalWidth > 0))).toBe(true);
      expect(await page.$eval('table.per-class', (e) => e.getBoundingClientRect().top)).toBeLessThan(300);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
