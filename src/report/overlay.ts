// One PNG per case for the report: image | ground truth | prediction on the axial (x-y) slice
// with the most labelled voxels, each label in its one colour (edges solid, inside see-through),
// so a missed or extra region shows as a difference between the last two panels.
import type { Shape3 } from '../data/index.js';
import { encodePng } from './png.js';
import { labelRgb } from './html.js';

/** One case's volumes, as evaluation collects them (the ground truth is absent for predict's cases). */
export interface ReportOverlay {
  id: string;
  /** (D, H, W) = NIfTI (x, y, z). */
  shape: Shape3;
  image: Float32Array;
  label?: Int32Array;
  pred: Int32Array | Uint8Array;
}

const ZOOM = 4;
const GAP = 3;

/** The PNG and how many panels it holds (2 without ground truth, 3 with). */
export function overlayPng(o: ReportOverlay): { png: Uint8Array; panels: number; z: number } {
  const [D, H, W] = o.shape;
  const n = D * H * W;
  for (const [what, v] of [['image', o.image], ['prediction', o.pred], ['label', o.label]] as const) {
    if (v && v.length !== n) throw new Error(`overlay ${o.id}: ${what} has ${v.length} voxels, shape ${o.shape.join('x')} has ${n}`);
  }
  const ref = o.label ?? o.pred;
  const perZ = new Float64Array(W);
  for (let i = 0; i < n; i++) if (ref[i] > 0) perZ[i % W]++;
  // The fullest slice; ties (and empty masks) go to the one nearest the middle.
  let z = 0;
  for (let k = 0; k < W; k++) {
    if (perZ[k] > perZ[z] || (perZ[k] === perZ[z] && Math.abs(k - (W - 1) / 2) < Math.abs(z - (W - 1) / 2))) z = k;
  }
  const at = (x: number, y: number) => (x * H + y) * W + z;
  const grey = greyLevels(o.image, D, H, at);
  const masks = [undefined, ...(o.label ? [o.label] : []), o.pred];
  const w = (masks.length * D + (masks.length - 1) * GAP) * ZOOM;
  const h = H * ZOOM;
  const rgb = new Uint8Array(w * h * 3).fill(255);
  masks.forEach((m, p) => {
    for (let x = 0; x < D; x++) {
      for (let y = 0; y < H; y++) {
        const g = grey(x, y);
        let c: readonly number[] = [g, g, g];
        const v = m ? m[at(x, y)] : 0;
        if (v > 0) {
          const same = (a: number, b: number) => a >= 0 && b >= 0 && a < D && b < H && m![at(a, b)] === v;
          const edge = !(same(x - 1, y) && same(x + 1, y) && same(x, y - 1) && same(x, y + 1));
          const a = edge ? 1 : 0.45;
          c = labelRgb(v).map((k, i) => Math.round(a * k + (1 - a) * c[i]));
        }
        // +y up: row 0 of the picture is the highest y.
        for (let dy = 0; dy < ZOOM; dy++) {
          const row = (H - 1 - y) * ZOOM + dy;
          for (let dx = 0; dx < ZOOM; dx++) rgb.set(c, (row * w + (p * (D + GAP) + x) * ZOOM + dx) * 3);
        }
      }
    }
  });
  return { png: encodePng(w, h, rgb, 3), panels: masks.length, z };
}

/** Grey levels of slice z, windowed to its 1st..99th percentile (robust to a few bright voxels). */
function greyLevels(img: Float32Array, D: number, H: number, at: (x: number, y: number) => number): (x: number, y: number) => number {
  const vals: number[] = [];
  for (let x = 0; x < D; x++) for (let y = 0; y < H; y++) if (Number.isFinite(img[at(x, y)])) vals.push(img[at(x, y)]);
  vals.sort((a, b) => a - b);
  const lo = vals.length ? vals[Math.floor(0.01 * (vals.length - 1))] : 0;
  const hi = vals.length ? vals[Math.ceil(0.99 * (vals.length - 1))] : 1;
  return (x, y) => {
    const v = img[at(x, y)];
    return Number.isFinite(v) ? Math.round(255 * Math.min(1, Math.max(0, (v - lo) / (hi - lo || 1)))) : 0;
  };
}
