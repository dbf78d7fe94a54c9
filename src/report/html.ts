// Pieces every part of the report shares: escaping, number formats that never print
// "undefined" or a bare NaN, and the one colour per label (the viewer page uses the same).
/** Label value 1, 2, ... -> RGB; ground truth and prediction of a label share its colour. */
export const PALETTE: readonly (readonly [number, number, number])[] = [[255, 127, 14], [31, 119, 180], [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75], [227, 119, 194], [23, 190, 207]];

export const labelRgb = (value: number): readonly [number, number, number] => PALETTE[(Math.max(1, value) - 1) % PALETTE.length];
export const labelCss = (value: number) => `rgb(${labelRgb(value).join(',')})`;

export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A metric cell: fixed digits, "n/a" for NaN / missing (a class absent from both masks), "∞" for an infinite distance. */
export function num(x: number | null | undefined, digits: number): string {
  if (x === undefined || x === null || Number.isNaN(x)) return 'n/a';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '-∞';
  return x.toFixed(digits);
}

/** A small coloured square before a label name. */
export const swatch = (value: number) => `<span class="sw" style="background:${labelCss(value)}"></span>`;

/** Any configuration value as readable text (undefined values are left out before this). */
export function show(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return JSON.stringify(v) ?? String(v);
}
