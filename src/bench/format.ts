// Output of `vnet-native bench conv`: an aligned table, JSON lines or CSV, row by row, so a
// time limit still leaves every finished row on screen.
import type { BenchRow } from './conv.js';

export type OutputFormat = 'table' | 'json' | 'csv';

const f = (v: number | null | undefined, digits: number) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));

const TABLE: [string, number, (r: BenchRow) => string][] = [
  ['layer', 0, (r) => r.layer],
  ['batch', 5, (r) => String(r.batch)],
  ['dir', 5, (r) => r.direction],
  ['dtype', 5, (r) => r.dtype],
  ['math', 4, (r) => r.math],
  ['algo', 0, (r) => r.algo + (r.chosen ? '*' : '')],
  ['ms', 9, (r) => f(r.ms_median, 3)],
  ['p10', 9, (r) => f(r.ms_p10, 3)],
  ['p90', 9, (r) => f(r.ms_p90, 3)],
  ['reps', 5, (r) => String(r.reps)],
  ['GFLOP/s', 8, (r) => f(r.gflops, 1)],
  ['%peak', 6, (r) => (r.peak_fraction === null ? '-' : (100 * r.peak_fraction).toFixed(1))],
  ['check', 7, (r) => r.check],
];
const PEER: [string, number, (r: BenchRow) => string][] = [
  ['peer ms', 9, (r) => f(r.peer_ms, 3)],
  ['ratio', 6, (r) => f(r.ratio, 2)],
];

const CSV_FIELDS = ['layer', 'input', 'filters', 'kernel', 'stride', 'pad', 'transposed', 'batch', 'direction', 'dtype', 'math', 'device', 'algo', 'chosen',
  'ms_median', 'ms_p10', 'ms_p90', 'reps', 'gflops', 'peak_gflops', 'peak_fraction', 'check', 'check_error', 'threads', 'peer_ms', 'ratio', 'peer_layout', 'error'] as const;

function csvCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = Array.isArray(v) ? v.join('x') : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Writes rows in one format. Table rows are padded to the widest layer / algo name known up front. */
export class RowWriter {
  private started = false;
  constructor(private format: OutputFormat, private write: (s: string) => void, private widths: { layer: number; algo: number }, private peer: boolean) {}

  private tableCols() {
    return this.peer ? [...TABLE, ...PEER] : TABLE;
  }

  private line(cells: string[]): string {
    const cols = this.tableCols();
    return cells.map((c, i) => {
      const w = cols[i][1] || (i === 0 ? this.widths.layer : this.widths.algo);
      return i === 0 || cols[i][0] === 'algo' ? c.padEnd(w) : c.padStart(w);
    }).join(' ');
  }

  row(r: BenchRow): void {
    if (this.format === 'json') {
      this.write(JSON.stringify(r) + '\n');
      return;
    }
    if (this.format === 'csv') {
      if (!this.started) this.write(CSV_FIELDS.join(',') + '\n');
      this.started = true;
      const flat: Record<string, unknown> = { ...r, ...r.shape };
      this.write(CSV_FIELDS.map((k) => csvCell(flat[k])).join(',') + '\n');
      return;
    }
    if (!this.started) this.write(this.line(this.tableCols().map((c) => c[0])) + '\n');
    this.started = true;
    this.write(this.line(this.tableCols().map((c) => c[2](r))) + (r.error ? `  (${r.error.slice(0, 120)})` : '') + '\n');
  }
}
