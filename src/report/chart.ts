// Line charts as inline SVG with the legend outside the plot (beside it in HTML, so it can never
// cover a curve) and markers plus end values when there are few points, so a short run reads.
import { esc } from './html.js';

export interface Series {
  name: string;
  css: string;
  points: [number, number][];
  /** Thin and faint (raw minibatch losses under their average). */
  faint?: boolean;
}

/** Round tick values (1, 2, 2.5 or 5 x 10^k apart), about `want` of them, within [lo, hi]. */
export function ticks(lo: number, hi: number, want = 5, integer = false): number[] {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const p = 10 ** Math.floor(Math.log10(span / want));
  let step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => span / s <= want + 1) ?? 10 * p;
  if (integer) step = Math.max(1, Math.round(step));
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(10)));
  return out;
}

const W = 520, H = 280;
const M = { l: 58, r: 54, t: 12, b: 42 };

/** An SVG line chart and its legend; `y` fixes the y range (Dice: [0, 1]). */
export function lineChart(xLabel: string, yLabel: string, series: Series[], y?: [number, number]): string {
  const pts = series.flatMap((s) => s.points).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
  const legend = `<div class="legend">${series.map((s) => `<span><i style="background:${s.css}"></i>${esc(s.name)}</span>`).join('')}</div>`;
  if (pts.length === 0) return `<div class="chart"><p class="empty">no ${esc(yLabel)} recorded</p></div>`;
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = y ?? [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
  const X = (v: number) => M.l + ((v - x0) / (x1 - x0)) * (W - M.l - M.r);
  const Y = (v: number) => H - M.b - ((Math.min(Math.max(v, y0), y1) - y0) / (y1 - y0)) * (H - M.t - M.b);
  const f = (v: number) => v.toFixed(1);
  const fmt = (v: number) => String(Number(v.toPrecision(4)));
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img">`];
  for (const t of ticks(y0, y1)) out.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${f(Y(t))}" y2="${f(Y(t))}" class="grid"/><text x="${M.l - 6}" y="${f(Y(t) + 4)}" text-anchor="end">${fmt(t)}</text>`);
  const integer = pts.every((p) => Number.isInteger(p[0]));
  for (const t of ticks(x0, x1, 6, integer)) out.push(`<line x1="${f(X(t))}" x2="${f(X(t))}" y1="${H - M.b}" y2="${H - M.b + 4}" class="axis"/><text x="${f(X(t))}" y="${H - M.b + 17}" text-anchor="middle">${fmt(t)}</text>`);
  out.push(`<rect x="${M.l}" y="${M.t}" width="${W - M.l - M.r}" height="${H - M.t - M.b}" class="frame"/>`,
    `<text x="${(M.l + W - M.r) / 2}" y="${H - 6}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(14 ${(M.t + H - M.b) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  for (const s of series) {
    const ok = s.points.filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
    if (!ok.length) continue;
    out.push(`<polyline points="${ok.map(([a, b]) => `${f(X(a))},${f(Y(b))}`).join(' ')}" fill="none" stroke="${s.css}" stroke-width="${s.faint ? 1 : 2}" stroke-opacity="${s.faint ? 0.35 : 1}"/>`);
    if (s.faint) continue;
    // Few points: mark each, and write the last value at the end of the line.
    if (ok.length <= 30) out.push(ok.map(([a, b]) => `<circle cx="${f(X(a))}" cy="${f(Y(b))}" r="3.5" fill="${s.css}"/>`).join(''));
    const [la, lb] = ok[ok.length - 1];
    out.push(`<text x="${f(X(la) + 6)}" y="${f(Y(lb) + 4)}" fill="${s.css}" class="end">${fmt(lb)}</text>`);
  }
  out.push('</svg>');
  return `<div class="chart">${out.join('\n')}${legend}</div>`;
}
