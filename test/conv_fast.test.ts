// The fast CPU convolutions (fprop, dgrad, wgrad) against a float64 direct implementation, on
// every V-Net layer shape and on odd geometries (channel counts off the vector width, k=5,
// strided 'same' padding on odd sizes, asymmetric pads, tiny inputs), and at several thread
// counts (the calls are split into chunks handed out dynamically; wgrad sums per-chunk partials).
import os from 'node:os';
import { native } from '../bindings/native.js';
import { type Case, type V3, dgrad64, expectClose, fprop64, outSize, rand, runOp, wgrad64 } from './conv_oracle.js';

const cube = (v: number): V3 => [v, v, v];
const conv3 = (name: string, n: number, size: number, c: number, k: number): Case =>
  ({ name, n, in: cube(size), c, k, ks: cube(3), s: cube(1), pad: cube(1), padBack: cube(1) });
const pool2 = (name: string, n: number, size: number, c: number, k: number): Case =>
  ({ name, n, in: cube(size), c, k, ks: cube(2), s: cube(2), pad: cube(0), padBack: cube(0) });

// The underlying conv of each distinct V-Net layer (a tconv is the dgrad of a 2³ s2 conv whose
// input is the tconv's output).
const vnetLayers = (n: number): Case[] => [
  conv3('in.conv', n, 32, 1, 16),
  pool2('down1.pool', n, 32, 16, 32),
  conv3('down1.res', n, 16, 32, 32),
  pool2('down2.pool', n, 16, 32, 64),
  conv3('down2.res', n, 8, 64, 64),
  pool2('down3.pool', n, 8, 64, 128),
  conv3('down3.res', n, 4, 128, 128),
  pool2('up1.tconv', n, 8, 64, 128),
  conv3('up1.res', n, 8, 128, 128),
  pool2('up2.tconv', n, 16, 32, 128),
  conv3('up2.res', n, 16, 64, 64),
  pool2('out.tconv', n, 32, 16, 64),
  conv3('out.conv', n, 32, 16, 3),
];

const odd: Case[] = [
  { name: 'C5 K7 3x3x3', n: 2, in: cube(6), c: 5, k: 7, ks: cube(3), s: cube(1), pad: cube(1), padBack: cube(1) },
  { name: 'C3 K19', n: 1, in: [5, 6, 7], c: 3, k: 19, ks: cube(3), s: cube(1), pad: cube(1), padBack: cube(1) },
  { name: 'C1 K16 odd size', n: 2, in: cube(7), c: 1, k: 16, ks: cube(3), s: cube(1), pad: cube(1), padBack: cube(1) },
  { name: 'C16 K3 non-cubic', n: 1, in: [9, 8, 7], c: 16, k: 3, ks: cube(3), s: cube(1), pad: cube(1), padBack: cube(1) },
  { name: 'k5 pad2', n: 1, in: cube(7), c: 8, k: 12, ks: cube(5), s: cube(1), pad: cube(2), padBack: cube(2) },
  { name: 'k3 s2 same odd', n: 2, in: cube(7), c: 6, k: 10, ks: cube(3), s: cube(2), pad: cube(1), padBack: cube(1) },
  { name: 'k2 s2 same odd', n: 1, in: cube(7), c: 9, k: 17, ks: cube(2), s: cube(2), pad: cube(0), padBack: cube(1) },
  { name: 'asymmetric pads', n: 1, in: [5, 6, 4], c: 7, k: 9, ks: cube(3), s: cube(1), pad: [0, 1, 2], padBack: [2, 1, 0] },
  { name: 'tiny 3^3', n: 2, in: cube(3), c: 12, k: 8, ks: cube(3), s: cube(1), pad: cube(1), padBack: cube(1) },
  { name: 'kernel 1x3x2 stride 1,2,3', n: 1, in: [4, 9, 11], c: 10, k: 20, ks: [1, 3, 2], s: [1, 2, 3], pad: [0, 1, 1], padBack: [0, 1, 0] },
  { name: 'C40 K24', n: 1, in: cube(5), c: 40, k: 24, ks: cube(3), s: cube(1), pad: cube(1), padBack: cube(1) },
  { name: 'C20 K36 valid', n: 1, in: cube(6), c: 20, k: 36, ks: cube(3), s: cube(1), pad: cube(0), padBack: cube(0) },
  { name: 'C2 K5 k2 s2', n: 2, in: cube(6), c: 2, k: 5, ks: cube(2), s: cube(2), pad: cube(0), padBack: cube(0) },
  { name: 'C24 K2 (few outputs, channel tail)', n: 1, in: [5, 4, 6], c: 24, k: 2, ks: cube(3), s: cube(1), pad: cube(1), padBack: cube(1) },
  { name: 'k2 s2 exact tiling C20 K12', n: 2, in: [6, 4, 8], c: 20, k: 12, ks: cube(2), s: cube(2), pad: cube(0), padBack: cube(0) },
  { name: 'W=1 column', n: 1, in: [4, 3, 1], c: 8, k: 16, ks: cube(3), s: cube(1), pad: cube(1), padBack: cube(1) },
  // Few outputs from one or two vectors of channels: fprop runs on a zero-padded copy.
  { name: 'C32 K4 (few outputs, two channel vectors)', n: 2, in: [5, 7, 9], c: 32, k: 4, ks: cube(3), s: cube(1), pad: cube(1), padBack: cube(1) },
  { name: 'C32 K1 k3 s2 same odd (few outputs, strided)', n: 1, in: [7, 9, 11], c: 32, k: 1, ks: cube(3), s: cube(2), pad: cube(1), padBack: cube(1) },
  { name: 'C16 K2 asymmetric pads (few outputs)', n: 1, in: [5, 6, 4], c: 16, k: 2, ks: cube(3), s: cube(1), pad: [0, 1, 2], padBack: [2, 1, 0] },
  // Kernels that tile the input exactly run the dense path on the input itself.
  { name: 'C16 K3 k2 s2 (few outputs, exact tiling)', n: 2, in: [4, 6, 8], c: 16, k: 3, ks: cube(2), s: cube(2), pad: cube(0), padBack: cube(0) },
  { name: 'C7 K40 kernel = stride 1x2x3', n: 1, in: [3, 4, 9], c: 7, k: 40, ks: [1, 2, 3], s: [1, 2, 3], pad: cube(0), padBack: cube(0) },
  { name: 'C48 K3 (few outputs, per-voxel pointers)', n: 1, in: cube(6), c: 48, k: 3, ks: cube(3), s: cube(1), pad: cube(1), padBack: cube(1) },
];

function check(c: Case): void {
  const o = outSize(c);
  const xShape = [c.n, ...c.in, c.c], wShape = [...c.ks, c.c, c.k], yShape = [c.n, ...o, c.k];
  const nx = xShape.reduce((p, q) => p * q), nw = wShape.reduce((p, q) => p * q), ny = yShape.reduce((p, q) => p * q);
  const x = rand(nx, 1), w = rand(nw, 2), dy = rand(ny, 3);
  const y = runOp('conv3d_fprop', x, xShape, w, wShape, { stride: c.s, pad: c.pad, pad_back: c.padBack });
  expectClose(y, fprop64(c, x, w, ny), `${c.name} fprop`);
  const dx = runOp('conv3d_dgrad', dy, yShape, w, wShape, { stride: c.s, pad: c.pad, in_shape: c.in });
  expectClose(dx, dgrad64(c, dy, w, nx), `${c.name} dgrad`);
  const dw = runOp('conv3d_wgrad', x, xShape, dy, yShape, { stride: c.s, pad: c.pad, ksize: c.ks });
  expectClose(dw, wgrad64(c, x, dy, nw), `${c.name} wgrad`);
}

describe('conv3d fast paths vs float64 oracle', () => {
  test.each(vnetLayers(1).map((c) => [c.name, c] as const))('V-Net %s, batch 1', (_n, c) => check(c));
  test.each(vnetLayers(2).filter((c) => c.in[0] <= 8 && c.name !== 'up1.res').map((c) => [c.name, c] as const))('V-Net %s, batch 2', (_n, c) => check(c));
  test.each(odd.map((c) => [c.name, c] as const))('odd geometry: %s', (_n, c) => check(c));

  // Every register-tile width, 1 .. 12 (AVX-512's widest; AVX2's stops at 6): a plane of w
  // voxels is one fprop / dgrad tile of width w, and C = w channels one wgrad tile of w rows
  // (C < 6 takes the padded (tap, channel) tiles). K = 20 leaves a partial second vector.
  const widths: Case[] = Array.from({ length: 13 }, (_, i) => ({
    name: `plane 1x${i + 1}, C${i + 1}`, n: 2, in: [3, 1, i + 1] as V3, c: i + 1, k: 20, ks: cube(3), s: cube(1), pad: cube(1), padBack: cube(1),
  }));
  test.each(widths.map((c) => [c.name, c] as const))('tile width: %s', (_n, c) => check(c));

  // Large enough that every path splits into more chunks than threads (fprop/dgrad: >= 192
  // voxels a chunk, up to 4 chunks a thread; wgrad: >= 1024 voxels a partial), at thread
  // counts that do not divide the rows evenly.
  const chunked: Case[] = [
    { name: 'C8 K24 16^3 (wgrad partials per chunk, K off the panel width)', n: 2, in: cube(16), c: 8, k: 24, ks: cube(3), s: cube(1), pad: cube(1), padBack: cube(1) },
    { name: 'C20 K12 k3 s2 odd (dgrad by stride phases)', n: 3, in: cube(13), c: 20, k: 12, ks: cube(3), s: cube(2), pad: cube(1), padBack: cube(1) },
    { name: 'C12 K20 k2 s2 (dgrad non-overlapping)', n: 3, in: [12, 10, 14], c: 12, k: 20, ks: cube(2), s: cube(2), pad: cube(0), padBack: cube(0) },
    { name: 'C1 K16 (padded input, flipped small-K dgrad)', n: 3, in: [14, 12, 13], c: 1, k: 16, ks: cube(3), s: cube(1), pad: cube(1), padBack: cube(1) },
    { name: 'C16 K3 (few outputs)', n: 2, in: cube(12), c: 16, k: 3, ks: cube(3), s: cube(1), pad: cube(1), padBack: cube(1) },
  ];
  const defaultThreads = Number(process.env.VNET_NUM_THREADS) || os.availableParallelism();
  afterAll(() => native.setNumThreads(defaultThreads));
  test.each([1, 3, 5].flatMap((t) => chunked.map((c) => [t, c.name, c] as const)))('%d threads: %s', (t, _n, c) => {
    native.setNumThreads(t);
    check(c);
  });

  test('wgrad is the same on every run at a given thread count, and close across counts', () => {
    const c = chunked[0];
    const o = outSize(c);
    const xShape = [c.n, ...c.in, c.c], yShape = [c.n, ...o, c.k];
    const x = rand(xShape.reduce((p, q) => p * q), 6), dy = rand(yShape.reduce((p, q) => p * q), 7);
    const attrs = { stride: c.s, pad: c.pad, ksize: c.ks };
    native.setNumThreads(3);
    const a = runOp('conv3d_wgrad', x, xShape, dy, yShape, attrs);
    const b = runOp('conv3d_wgrad', x, xShape, dy, yShape, attrs);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    native.setNumThreads(1);
    const one = runOp('conv3d_wgrad', x, xShape, dy, yShape, attrs);
    expectClose(a, Float64Array.from(one), 'wgrad 3 threads vs 1');
  });

  test('results do not change between runs (fixed thread count)', () => {
    const c = conv3('det', 2, 6, 16, 16);
    const o = outSize(c);
    const xShape = [c.n, ...c.in, c.c], yShape = [c.n, ...o, c.k];
    const x = rand(xShape.reduce((p, q) => p * q), 4), dy = rand(yShape.reduce((p, q) => p * q), 5);
    const attrs = { stride: c.s, pad: c.pad, ksize: c.ks };
    const a = runOp('conv3d_wgrad', x, xShape, dy, yShape, attrs);
    const b = runOp('conv3d_wgrad', x, xShape, dy, yShape, attrs);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
  });
});
