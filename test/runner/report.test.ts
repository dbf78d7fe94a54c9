// The PNG encoder (decoded back chunk by chunk with an independent CRC) and the HTML report
// (SVG curves, embedded overlays, escaping, atomic write).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { encodePng } from '../../src/eval/png.js';
import { lineChart, niceTicks, overlayPng, renderReport, writeReport, type ReportData } from '../../src/eval/report.js';

/** Bit-by-bit CRC-32, deliberately unlike the table-driven one under test. */
function slowCrc(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of b) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}

interface Decoded { width: number; height: number; bitDepth: number; colourType: number; interlace: number; pixels: Uint8Array; chunks: string[] }

function decodePng(png: Uint8Array): Decoded {
  expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let o = 8;
  const chunks: string[] = [];
  const idat: Uint8Array[] = [];
  let ihdr: Uint8Array | undefined;
  while (o < png.length) {
    const len = dv.getUint32(o);
    const type = Buffer.from(png.subarray(o + 4, o + 8)).toString('latin1');
    const body = png.subarray(o + 8, o + 8 + len);
    expect(dv.getUint32(o + 8 + len)).toBe(slowCrc(png.subarray(o + 4, o + 8 + len)));
    chunks.push(type);
    if (type === 'IHDR') ihdr = body;
    if (type === 'IDAT') idat.push(body);
    o += 12 + len;
  }
  expect(o).toBe(png.length);
  const h = new DataView(ihdr!.buffer, ihdr!.byteOffset, 13);
  const width = h.getUint32(0);
  const height = h.getUint32(4);
  const colourType = ihdr![9];
  const ch = colourType === 6 ? 4 : 3;
  const raw = zlib.inflateSync(Buffer.concat(idat));
  expect(raw.length).toBe(height * (1 + width * ch));
  const pixels = new Uint8Array(width * height * ch);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (1 + width * ch)]).toBe(0); // filter: none
    pixels.set(raw.subarray(y * (1 + width * ch) + 1, (y + 1) * (1 + width * ch)), y * width * ch);
  }
  return { width, height, bitDepth: ihdr![8], colourType, interlace: ihdr![12], pixels, chunks };
}

describe('encodePng', () => {
  it('round-trips RGB and RGBA pixels through a real PNG structure', () => {
    for (const ch of [3, 4] as const) {
      const w = 5;
      const h = 3;
      const px = Uint8Array.from({ length: w * h * ch }, (_, i) => (i * 37) & 255);
      const d = decodePng(encodePng(w, h, px, ch));
      expect(d).toMatchObject({ width: w, height: h, bitDepth: 8, colourType: ch === 4 ? 6 : 2, interlace: 0 });
      expect(d.chunks).toEqual(['IHDR', 'IDAT', 'IEND']);
      expect(Array.from(d.pixels)).toEqual(Array.from(px));
    }
  });

  it('rejects a wrong buffer size', () => {
    expect(() => encodePng(2, 2, new Uint8Array(11), 3)).toThrow(/12 expected/);
  });
});

const shape: [number, number, number] = [12, 16, 10];
function overlayCase(id: string) {
  const n = shape[0] * shape[1] * shape[2];
  const image = new Float32Array(n);
  const label = new Int32Array(n);
  const pred = new Int32Array(n);
  for (let x = 0, i = 0; x < shape[0]; x++) for (let y = 0; y < shape[1]; y++) for (let z = 0; z < shape[2]; z++, i++) {
    image[i] = x + y;
    // Structure around z = 7, widest there, so the chosen slice must be 7 (not the middle, 5).
    if (z >= 6 && z <= 8 && x >= (z === 7 ? 2 : 3) && x < 9 && y >= 4 && y < 12) label[i] = y < 8 ? 1 : 2;
    if (z === 7 && x >= 4 && x < 9 && y >= 4 && y < 12) pred[i] = y < 9 ? 1 : 2;
  }
  return { id, shape, image, label, pred };
}

describe('report', () => {
  const data: ReportData = {
    title: 'Run <1> & "co"',
    command: 'vnet-native train --epochs 3',
    config: { epochs: 3, lr: 0.001, shape: [32, 32, 32], name: '<b>x</b>' },
    losses: Array.from({ length: 120 }, (_, i) => ({ step: i + 1, loss: 1 / (1 + i / 10) })),
    evalHistory: [1, 2, 3].map((epoch) => ({ epoch, dice: { 1: 0.2 * epoch, 2: 0.25 * epoch } })),
    table: 'class  Dice\n1 Anterior  0.8',
    overlays: [overlayCase('case_a'), overlayCase('case_b')],
    classNames: ['background', 'Anterior', 'Posterior'],
  };

  it('renders polylines, a legend, the table and embedded PNGs, escaped', () => {
    const html = renderReport(data);
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    // loss + EMA + two Dice classes
    expect(html.match(/<polyline /g)).toHaveLength(4);
    expect(html).toContain('1 Anterior');
    expect(html).toContain('2 Posterior');
    expect(html).toContain('<title>Run &lt;1&gt; &amp; &quot;co&quot;</title>');
    expect(html).toContain('&lt;b&gt;x&lt;/b&gt;');
    expect(html).not.toContain('<b>x</b>');
    expect(html).toContain('1 Anterior  0.8');
    expect(html).toContain('vnet-native train --epochs 3');
    const imgs = [...html.matchAll(/<img src="data:image\/png;base64,([A-Za-z0-9+/=]+)"/g)];
    expect(imgs).toHaveLength(2);
    const d = decodePng(new Uint8Array(Buffer.from(imgs[0][1], 'base64')));
    // three panels of D = 12 columns plus two 2-voxel gaps, x4; H = 16 rows, x4
    expect([d.width, d.height]).toEqual([(3 * 12 + 4) * 4, 16 * 4]);
    // The Dice polyline for class 1 spans epochs 1..3 at Dice 0.2..0.6 on a 0..1 axis.
    const dice1 = html.match(/<polyline fill="none" stroke="#1f77b4"[^>]*points="([^"]+)"/g)!;
    expect(dice1.length).toBe(2); // loss and Dice class 1 share the first colour
    expect(dice1[1].match(/points="([^"]+)"/)![1].split(' ')).toHaveLength(3);
  });

  it('colours the slice with the most label voxels: image | label | prediction', () => {
    const d = decodePng(overlayPng(overlayCase('c')));
    const px = (col: number, row: number) => Array.from(d.pixels.subarray((row * d.width + col) * 3, (row * d.width + col) * 3 + 3));
    // Voxel (x, y) of panel p is at column (p*(12+2)+x)*4, row (15-y)*4 (+y up).
    const at = (p: number, x: number, y: number) => px((p * 14 + x) * 4 + 1, (15 - y) * 4 + 1);
    const grey = (c: number[]) => c[0] === c[1] && c[1] === c[2];
    expect(grey(at(0, 5, 6))).toBe(true); // the image panel has no colour
    expect(grey(at(1, 0, 0))).toBe(true); // background stays grey
    expect(at(1, 2, 5)).toEqual([0, 200, 80]); // label class 1 edge: full label colour
    expect(at(1, 2, 10)).toEqual([40, 140, 255]); // label class 2 edge
    const inner = at(1, 4, 6); // interior: 40 % label colour over grey
    const g = at(0, 4, 6)[0];
    expect(inner).toEqual([0, 200, 80].map((c) => Math.round(0.6 * g + 0.4 * c)));
    expect(at(2, 4, 5)).toEqual([255, 70, 30]); // prediction class 1 edge (pred exists only at z = 7)
    expect(at(2, 8, 10)).toEqual([255, 210, 0]); // prediction class 2 edge
    expect(grey(at(2, 3, 5))).toBe(true); // x = 3 is outside the prediction
  });

  it('handles empty curves and draws sensible ticks', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3, 117)).toEqual([20, 40, 60, 80, 100]);
    expect(lineChart('t', 'x', 'y', [])).toContain('no data');
    const html = renderReport({ ...data, losses: [], evalHistory: [], overlays: [], table: undefined, command: undefined });
    expect(html).not.toContain('<img');
    expect(html).toContain('no data');
  });

  it('writes the file atomically', () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'vnet-report-'));
    try {
      const f = path.join(d, 'sub', 'report.html');
      writeReport(f, data);
      expect(fs.readFileSync(f, 'utf8')).toBe(renderReport(data));
      expect(fs.readdirSync(path.dirname(f))).toEqual(['report.html']);
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });
});
