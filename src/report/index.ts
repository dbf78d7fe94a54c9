// report.html for people: a pure renderer from an evaluation summary, training curves, predicted
// volumes and per-case overlays to one self-contained HTML file.
export { renderReport, writeReport, type ReportCurves, type ReportInput, type ReportSummary, type ReportVolumes } from './render.js';
export { overlayPng, type ReportOverlay } from './overlay.js';
export { lineChart, ticks, type Series } from './chart.js';
export { PALETTE, labelRgb } from './html.js';
