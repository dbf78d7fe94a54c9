// report.html for people: results first (per-class Dice and HD95, then per case, worst first),
// predicted volumes and overlays per case, training curves, and the configuration folded at the
// end. One self-contained file (inline SVG, embedded PNG): no script, no network.
import { writeFileAtomicSync } from '../data/index.js';
import { lineChart, type Series } from './chart.js';
import { esc, labelCss, num, show, swatch } from './html.js';
import { overlayPng, type ReportOverlay } from './overlay.js';

/** The metrics part of an evaluation summary.json (nnU-Net's shape, plus HD95). */
export interface ReportSummary {
  metric_per_case: { case: string; metrics: Record<string, { Dice: number; HD95: number }> }[];
  mean: Record<string, { Dice: number; HD95: number }>;
  foreground_mean: { Dice: number; HD95: number };
}

export interface ReportCurves {
  losses: { step: number; loss: number }[];
  /** Dice per class at each evaluation, keyed by class value ("1") or class name. */
  evals: { epoch: number; dice: Record<string, number> }[];
}

/** What predict measured per case: voxels and volume per label. */
export interface ReportVolumes {
  case: string;
  labels: { value: number; voxels: number; volumeMm3: number }[];
}

export interface ReportInput {
  title: string;
  /** Every class, background (value 0) included or not. */
  labels: { value: number; name: string }[];
  summary?: ReportSummary;
  volumes?: ReportVolumes[];
  curves?: ReportCurves;
  overlays?: ReportOverlay[];
  command?: string;
  config?: Record<string, unknown>;
}

const CSS = `body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1100px;padding:0 1em;color:#1d1d1f}
h1{font-size:1.5em;margin-bottom:.2em}.lead{font-size:1.1em;margin-top:0}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:3px 10px;font-size:14px;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{background:#f3f3f3}td.worst{background:#fff1f0}
.sw{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle;border:1px solid #0003}
.charts{display:flex;flex-wrap:wrap;gap:1.5em}.chart svg{font-size:12px}.chart .grid{stroke:#e4e4e4}.chart .axis{stroke:#444}
.chart .frame{fill:none;stroke:#444}.chart .end{font-size:11px}.legend span{margin-right:1.2em;font-size:13px}
.legend i{display:inline-block;width:18px;height:4px;margin-right:5px;vertical-align:middle}
figure{display:inline-block;margin:0 1.2em 1em 0}figure img{image-rendering:pixelated;border:1px solid #ccc}
figcaption{font-size:13px;color:#444}details{margin-top:1.6em}summary{cursor:pointer;font-weight:bold}.empty{color:#888}`;

/** The whole report as one HTML string. */
export function renderReport(r: ReportInput): string {
  const fg = r.labels.filter((l) => l.value !== 0);
  const name = (key: string) => fg.find((l) => String(l.value) === key || l.name === key);
  const parts = [`<h1>${esc(r.title)}</h1>`];
  if (r.summary) parts.push(results(r.summary, fg));
  if (r.volumes?.length) parts.push(volumes(r.volumes, fg));
  if (r.overlays?.length) parts.push(overlays(r.overlays, fg, !!r.summary));
  if (r.curves && (r.curves.losses.length || r.curves.evals.length)) parts.push(curves(r.curves, name));
  parts.push(configuration(r.command, r.config));
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title><style>${CSS}</style></head><body>\n${parts.join('\n')}\n</body></html>\n`;
}

function results(s: ReportSummary, fg: ReportInput['labels']): string {
  const n = s.metric_per_case.length;
  const lead = `<p class="lead">Mean Dice <b>${num(s.foreground_mean.Dice, 4)}</b>, HD95 <b>${num(s.foreground_mean.HD95, 2)} mm</b> over the foreground classes, on ${n} case${n === 1 ? '' : 's'}.</p>`;
  const perClass = fg.map((l) => `<tr><td>${swatch(l.value)}${l.value} ${esc(l.name)}</td><td>${num(s.mean[String(l.value)]?.Dice, 4)}</td><td>${num(s.mean[String(l.value)]?.HD95, 2)}</td></tr>`);
  const caseMean = (c: ReportSummary['metric_per_case'][number]) => {
    const d = fg.map((l) => c.metrics[String(l.value)]?.Dice).filter((x): x is number => Number.isFinite(x));
    return d.length ? d.reduce((a, b) => a + b, 0) / d.length : NaN;
  };
  // Worst cases first: those are the ones to look at.
  const cases = [...s.metric_per_case].sort((a, b) => (caseMean(a) || 0) - (caseMean(b) || 0));
  const head = fg.map((l) => `<th>${swatch(l.value)}${esc(l.name)} Dice</th><th>HD95 (mm)</th>`).join('');
  const rows = cases.map((c, i) => `<tr><td${i === 0 && cases.length > 1 ? ' class="worst"' : ''}>${esc(c.case)}</td>${fg.map((l) => {
    const m = c.metrics[String(l.value)];
    return `<td>${num(m?.Dice, 4)}</td><td>${num(m?.HD95, 2)}</td>`;
  }).join('')}<td>${num(caseMean(c), 4)}</td></tr>`);
  return `<h2>Results</h2>\n${lead}
<table class="per-class"><thead><tr><th>class</th><th>Dice</th><th>HD95 (mm)</th></tr></thead><tbody>${perClass.join('')}</tbody></table>
<h3>Per case (worst first)</h3>
<table class="per-case"><thead><tr><th>case</th>${head}<th>mean Dice</th></tr></thead><tbody>${rows.join('\n')}</tbody></table>`;
}

function volumes(v: ReportVolumes[], fg: ReportInput['labels']): string {
  const head = fg.map((l) => `<th>${swatch(l.value)}${esc(l.name)} (mm³)</th><th>voxels</th>`).join('');
  const rows = v.map((c) => `<tr><td>${esc(c.case)}</td>${fg.map((l) => {
    const x = c.labels.find((y) => y.value === l.value);
    return `<td>${num(x?.volumeMm3, 1)}</td><td>${x ? x.voxels : 'n/a'}</td>`;
  }).join('')}</tr>`);
  return `<h2>Predicted volumes</h2>\n<table class="volumes"><thead><tr><th>case</th>${head}</tr></thead><tbody>${rows.join('\n')}</tbody></table>`;
}

function overlays(list: ReportOverlay[], fg: ReportInput['labels'], evaluated: boolean): string {
  const figs = list.map((o) => {
    const { png, panels, z } = overlayPng(o);
    const what = panels === 3 ? 'image | ground truth | prediction' : 'image | prediction';
    return `<figure><img src="data:image/png;base64,${Buffer.from(png).toString('base64')}" alt="${esc(o.id)}: ${what}"><figcaption>${esc(o.id)}, slice z = ${z}: ${what}</figcaption></figure>`;
  });
  const key = fg.map((l) => `${swatch(l.value)}${esc(l.name)}`).join(' &nbsp; ');
  return `<h2>${evaluated ? 'Ground truth and prediction' : 'Predictions'}</h2>\n<p>The axial slice (x-y plane, +y up) with the most labelled voxels. Each label has one colour in every panel: ${key}.</p>\n${figs.join('\n')}`;
}

function curves(c: ReportCurves, name: (key: string) => { value: number; name: string } | undefined): string {
  const losses = c.losses.filter((l) => Number.isFinite(l.loss));
  const loss: Series[] = [{ name: losses.length > 50 ? 'loss per step' : 'loss', css: '#555', points: losses.map((l) => [l.step, l.loss]), faint: losses.length > 50 }];
  if (losses.length > 50) {
    // Minibatch noise hides the trend of a long run; an exponential average shows it.
    let ema = losses[0].loss;
    loss.push({ name: 'moving average (0.95)', css: '#111', points: losses.map((l) => [l.step, (ema = 0.95 * ema + 0.05 * l.loss)]) });
  }
  const keys = [...new Set(c.evals.flatMap((e) => Object.keys(e.dice)))];
  const dice: Series[] = keys.map((k, i) => {
    const l = name(k);
    return { name: l ? `${l.value} ${l.name}` : k, css: l ? labelCss(l.value) : ['#333', '#999'][i % 2], points: c.evals.filter((e) => k in e.dice).map((e) => [e.epoch, e.dice[k]]) };
  });
  return `<h2>Training</h2>\n<div class="charts">${lineChart('step', 'training loss', loss)}${lineChart('epoch', 'validation Dice', dice, [0, 1])}</div>`;
}

function configuration(command: string | undefined, config: Record<string, unknown> | undefined): string {
  const rows = Object.entries(config ?? {}).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(show(v))}</td></tr>`);
  if (!command && !rows.length) return '';
  return `<details><summary>Configuration (${rows.length} setting${rows.length === 1 ? '' : 's'})</summary>
${command ? `<p>Command: <code>${esc(command)}</code></p>` : ''}${rows.length ? `<table class="config"><tbody>${rows.join('')}</tbody></table>` : ''}</details>`;
}

/** Renders and writes `file` atomically (temporary file, then rename). */
export function writeReport(file: string, r: ReportInput): void {
  writeFileAtomicSync(file, renderReport(r));
}
