// The PNG encoder, decoded back chunk by chunk with an independent CRC, and the overlay's choice of slice.
import zlib from 'node:zlib';
import { encodePng } from '../../src/report/png.js';
import { overlayPng } from '../../src/report/overlay.js';

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

describe('overlayPng', () => {
  it('shows the axial slice with the most labelled voxels, as image | label | prediction', () => {
    const shape: [number, number, number] = [12, 16, 10];
    const n = shape[0] * shape[1] * shape[2];
    const image = new Float32Array(n);
    const label = new Int32Array(n);
    const pred = new Int32Array(n);
    for (let x = 0, i = 0; x < shape[0]; x++) for (let y = 0; y < shape[1]; y++) for (let z = 0; z < shape[2]; z++, i++) {
      image[i] = x + y;
      // Widest at z = 7, so the chosen slice must be 7 (not the middle, 5).
      if (z >= 6 && z <= 8 && x >= (z === 7 ? 2 : 3) && x < 9 && y >= 4 && y < 12) label[i] = y < 8 ? 1 : 2;
      if (z === 7 && x >= 4 && x < 9 && y >= 4 && y < 12) pred[i] = y < 9 ? 1 : 2;
    }
    const withLabel = overlayPng({ id: 'a', shape, image, label, pred });
    expect(withLabel).toMatchObject({ panels: 3, z: 7 });
    const d = decodePng(withLabel.png);
    const alone = decodePng(overlayPng({ id: 'a', shape, image, pred }).png);
    expect(alone.height).toBe(d.height);
    expect(alone.width).toBeLessThan(d.width);
    expect(() => overlayPng({ id: 'a', shape, image, pred: new Int32Array(3) })).toThrow(/prediction has 3 voxels/);
  });
});
