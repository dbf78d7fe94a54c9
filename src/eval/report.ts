// A self-contained report.html for a training run (curves as inline SVG, overlays as embedded
// PNGs), so a run can be judged from one file with no server, script or network access.
import type { Shape3 } from '../data/index.js';
import { writeFileAtomicSync } from '../data/index.js';
import { encodePng } from './png.js';

export interface ReportOverlay {
  id: string;
  /** (D, H, W) = NIfTI (x, y, z). */
  shape: Shape3;
  image: Float32Array;
  label?: Int32Array;
  pred: Int32Array;
}

export interface ReportData {
  title: string;
  command?: string;
  config: Record<string, unknown>;
  losses: { step: number; loss: number }[];
  /** Dice keyed by class value ("1") or name; every key becomes a curve. */
  evalHistory: { epoch: number; dice: Record<string, number> }[];
  /** A preformatted table (e.g. formatSummaryTable's). */
  table?: string;
  overlays: ReportOverlay[];
  /** Indexed by class value; [0] is background. */
  classNames: string[];
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

/** About `n` round tick values (steps of 1, 2 or 5 × 10^k) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  // The round step whose tick count is closest to n.
  const step = [1, 2, 5, 10].map((m) => m * mag).reduce((a, b) => (Math.abs((hi - lo) / b - n) < Math.abs((hi - lo) / a - n) ? b : a));
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

interface Series { name: string; points: [number, number][]; color: string; width?: number; opacity?: number }

/** A line chart: axes with ticks, one polyline per series, a legend. */
export function lineChart(title: string, xLabel: string, yLabel: string, series: Series[], yRange?: [number, number]): string {
  const W = 560;
  const H = 300;
  const m = { l: 56, r: 16, t: 28, b: 40 };
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const head = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" class="chart">`
    + `<text x="${W / 2}" y="18" text-anchor="middle" font-weight="bold">${esc(title)}</text>`;
  if (pts.length === 0) return `${head}<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#888">no data</text></svg>`;
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = yRange ?? [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const f = (v: number) => v.toFixed(1);
  const parts = [head, `<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#444"/>`];
  const label = (v: number) => +v.toPrecision(4) + '';
  // Integer x data (epochs, steps) gets integer ticks only.
  const intX = pts.every((p) => Number.isInteger(p[0]));
  for (const t of niceTicks(x0, x1).filter((v) => !intX || Number.isInteger(v))) {
    parts.push(`<line x1="${f(px(t))}" x2="${f(px(t))}" y1="${H - m.b}" y2="${H - m.b + 5}" stroke="#444"/>`
      + `<text x="${f(px(t))}" y="${H - m.b + 17}" text-anchor="middle" font-size="11">${label(t)}</text>`);
  }
  for (const t of niceTicks(y0, y1)) {
    parts.push(`<line x1="${m.l - 5}" x2="${W - m.r}" y1="${f(py(t))}" y2="${f(py(t))}" stroke="#ddd"/>`
      + `<text x="${m.l - 8}" y="${f(py(t) + 4)}" text-anchor="end" font-size="11">${label(t)}</text>`);
  }
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`,
    `<text transform="translate(14 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const ok = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    const clamp = (y: number) => Math.min(Math.max(y, y0), y1);
    const poly = ok.map(([x, y]) => `${f(px(x))},${f(py(clamp(y)))}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="${s.width ?? 1.5}" stroke-opacity="${s.opacity ?? 1}" points="${poly}"/>`);
    // Markers when points are few, so a single evaluation is still visible.
    if (ok.length <= 40) parts.push(ok.map(([x, y]) => `<circle cx="${f(px(x))}" cy="${f(py(clamp(y)))}" r="2.5" fill="${s.color}"/>`).join(''));
    const ly = m.t + 14 + 16 * i;
    parts.push(`<line x1="${W - m.r - 120}" x2="${W - m.r - 100}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="3"/>`
      + `<text x="${W - m.r - 94}" y="${ly}" font-size="11">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Keep at most ~`max` points (every k-th, plus the last) so long runs stay small. */
function thin<T>(xs: T[], max = 1500): T[] {
  if (xs.length <= max) return xs;
  const k = Math.ceil(xs.length / max);
  const out = xs.filter((_, i) => i % k === 0);
  if (out[out.length - 1] !== xs[xs.length - 1]) out.push(xs[xs.length - 1]);
  return out;
}

// RGB of the label overlay (class 1, 2, ...) and of the prediction overlay: distinct sets.
const LABEL_RGB = [[0, 200, 80], [40, 140, 255], [200, 0, 200]];
const PRED_RGB = [[255, 70, 30], [255, 210, 0], [0, 220, 220]];
const SCALE = 4;

/**
 * The overlay panel of one case: image | label | prediction, at the z slice (an x-y plane) with
 * the most label voxels (prediction when there is no label; the middle slice when both are
 * empty). The hippocampus runs along y, so an x-y plane shows head and tail together, where an
 * x slice would cut across it. Rows run from high y at the top; nearest ×4 upscaling.
 */
export function overlayPng(o: ReportOverlay): Uint8Array {
  const [D, H, W] = o.shape;
  const n = D * H * W;
  if (o.image.length !== n || o.pred.length !== n || (o.label && o.label.length !== n)) {
    throw new Error(`overlay ${o.id}: volume sizes differ from shape ${o.shape.join('x')}`);
  }
  const ref = o.label ?? o.pred;
  const perZ = new Array<number>(W).fill(0);
  for (let i = 0; i < n; i++) if (ref[i] > 0) perZ[i % W]++;
  let z = Math.floor(W / 2);
  for (let k = 0; k < W; k++) if (perZ[k] > perZ[z] || (perZ[k] === perZ[z] && Math.abs(k - W / 2) < Math.abs(z - W / 2))) z = k;
  const at = (x: number, y: number) => x * H * W + y * W + z;
  const vals: number[] = [];
  for (let x = 0; x < D; x++) for (let y = 0; y < H; y++) vals.push(o.image[at(x, y)]);
  const sorted = Float64Array.from(vals.filter(Number.isFinite)).sort();
  const lo = sorted.length ? sorted[Math.floor(0.01 * (sorted.length - 1))] : 0;
  const hi = sorted.length ? sorted[Math.ceil(0.99 * (sorted.length - 1))] : 1;
  const panels = 3;
  const gap = 2;
  const w = (panels * D + (panels - 1) * gap) * SCALE;
  const h = H * SCALE;
  const rgb = new Uint8Array(w * h * 3).fill(255);
  const vol = [undefined, o.label, o.pred];
  const colours = [[], LABEL_RGB, PRED_RGB];
  for (let p = 0; p < panels; p++) {
    const lab = vol[p];
    for (let x = 0; x < D; x++) {
      for (let y = 0; y < H; y++) {
        const v = o.image[at(x, y)];
        const g = Number.isFinite(v) ? Math.round(255 * Math.min(1, Math.max(0, (v - lo) / (hi - lo || 1)))) : 0;
        let c = [g, g, g];
        const cls = lab ? lab[at(x, y)] : 0;
        if (cls > 0) {
          const col = colours[p][(cls - 1) % colours[p].length];
          // In-plane edge: a neighbour of another class (or the border). Edges opaque, fill 40 %.
          const other = (xx: number, yy: number) => xx < 0 || yy < 0 || xx >= D || yy >= H || lab![at(xx, yy)] !== cls;
          const edge = other(x - 1, y) || other(x + 1, y) || other(x, y - 1) || other(x, y + 1);
          const a = edge ? 1 : 0.4;
          c = c.map((ch, k) => Math.round((1 - a) * ch + a * col[k]));
        }
        const row0 = (H - 1 - y) * SCALE;
        const col0 = (p * (D + gap) + x) * SCALE;
        for (let dy = 0; dy < SCALE; dy++) {
          for (let dx = 0; dx < SCALE; dx++) rgb.set(c, ((row0 + dy) * w + col0 + dx) * 3);
        }
      }
    }
  }
  return encodePng(w, h, rgb, 3);
}

const swatch = (c: number[]) => `<span class="sw" style="background:rgb(${c.join(',')})"></span>`;

/** The whole report as one HTML string. */
export function renderReport(data: ReportData): string {
  const name = (k: string) => (/^\d+$/.test(k) && data.classNames[Number(k)] ? `${k} ${data.classNames[Number(k)]}` : k);
  const configRows = Object.entries(data.config).map(([k, v]) =>
    `<tr><th>${esc(k)}</th><td>${esc(typeof v === 'string' ? v : JSON.stringify(v) ?? String(v))}</td></tr>`).join('\n');
  const losses = thin(data.losses.filter((l) => Number.isFinite(l.loss)));
  const lossSeries: Series[] = [{ name: 'loss', color: PALETTE[0], points: losses.map((l) => [l.step, l.loss]), opacity: losses.length > 50 ? 0.35 : 1 }];
  if (losses.length > 50) {
    // An exponential moving average makes the trend readable through minibatch noise.
    let ema = losses[0].loss;
    lossSeries.push({ name: 'EMA (0.95)', color: PALETTE[1], width: 2, points: losses.map((l) => [l.step, (ema = 0.95 * ema + 0.05 * l.loss)]) });
  }
  const keys = [...new Set(data.evalHistory.flatMap((e) => Object.keys(e.dice)))];
  const diceSeries: Series[] = keys.map((k, i) => ({
    name: name(k), color: PALETTE[i % PALETTE.length],
    points: data.evalHistory.filter((e) => k in e.dice).map((e) => [e.epoch, e.dice[k]] as [number, number]),
  }));
  const legend = (rgbs: number[][]) => data.classNames.slice(1).map((c, i) => `${swatch(rgbs[i % rgbs.length])}${esc(c)}`).join(' ');
  const overlays = data.overlays.map((o) => {
    const b64 = Buffer.from(overlayPng(o)).toString('base64');
    return `<figure><img src="data:image/png;base64,${b64}" alt="${esc(o.id)} overlay"><figcaption>${esc(o.id)}: image | label | prediction</figcaption></figure>`;
  }).join('\n');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(data.title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:2px 8px;text-align:left;font-size:13px}
pre{background:#f6f6f6;padding:8px;overflow-x:auto}.chart{margin:0 1em 1em 0}
figure{display:inline-block;margin:0 1em 1em 0}img{image-rendering:pixelated}
.sw{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;vertical-align:middle}
</style></head><body>
<h1>${esc(data.title)}</h1>
${data.command ? `<h2>Command</h2><pre>${esc(data.command)}</pre>` : ''}
<h2>Configuration</h2>
<table>${configRows}</table>
<h2>Training</h2>
${lineChart('Training loss', 'step', 'loss', lossSeries)}
${lineChart('Validation Dice', 'epoch', 'Dice', diceSeries, [0, 1])}
${data.table ? `<h2>Dice</h2><pre>${esc(data.table)}</pre>` : ''}
${data.overlays.length ? `<h2>Overlays</h2>
<p>The z slice (x-y plane, +y up) with the most labelled voxels. Label: ${legend(LABEL_RGB)}. Prediction: ${legend(PRED_RGB)}.</p>
${overlays}` : ''}
</body></html>
`;
}

/** Render and write `file` atomically (temporary file + rename). */
export function writeReport(file: string, data: ReportData): void {
  writeFileAtomicSync(file, renderReport(data));
}
