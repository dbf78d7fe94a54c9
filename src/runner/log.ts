// Run logs: dllogger-compatible `DLLL {json}` lines in a file (--log_dir), readable lines on
// stderr, and a progress bar with ETA when stderr is a terminal.
import fs from 'node:fs';
import path from 'node:path';

export type LogStep = 'PARAMETER' | number[];

export interface LogSink {
  /** A dllogger record (step "PARAMETER", [n] for training lines, [] for results). */
  log(step: LogStep, data: Record<string, unknown>): void;
  /** A human line on stderr (never in the JSON log). */
  info(msg: string): void;
  progress(p: Progress): void;
  close(): void;
}

export interface Progress {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  imagesPerSec: number;
  etaSec: number;
}

const fmtTime = (s: number) => {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return `${h ? `${h}:` : ''}${String(m).padStart(h ? 2 : 1, '0')}:${String(sec).padStart(2, '0')}`;
};

/** Where --log_dir points: a file (the reference's meaning), or log.json inside a folder. */
export function resolveLogFile(logDir: string): string {
  const isDir = logDir.endsWith('/') || (fs.existsSync(logDir) && fs.statSync(logDir).isDirectory());
  return isDir ? path.join(logDir, 'log.json') : logDir;
}

export class RunLogger implements LogSink {
  private fd?: number;
  private readonly t0 = Date.now();
  private barShown = false;
  private readonly tty: boolean;

  constructor(opts: { logDir?: string; progress?: boolean; quiet?: boolean } = {}) {
    this.tty = opts.progress ?? Boolean(process.stderr.isTTY);
    this.quiet = opts.quiet ?? false;
    if (opts.logDir) {
      const file = resolveLogFile(opts.logDir);
      fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      this.fd = fs.openSync(file, 'w');
    }
  }

  private readonly quiet: boolean;

  log(step: LogStep, data: Record<string, unknown>): void {
    if (this.fd !== undefined) {
      const now = Date.now();
      const rec = {
        timestamp: String(now / 1000),
        datetime: new Date(now).toISOString(),
        elapsedtime: String((now - this.t0) / 1000),
        type: 'LOG',
        step,
        data,
      };
      fs.writeSync(this.fd, `DLLL ${JSON.stringify(rec)}\n`);
    }
    if (step !== 'PARAMETER' && !this.quiet) {
      const kv = Object.entries(data).map(([k, v]) => `${k} ${typeof v === 'number' ? fmtNum(v) : String(v)}`).join('  ');
      this.line(`${step.length ? `step ${step.join('.')}  ` : ''}${kv}`);
    }
  }

  info(msg: string): void {
    if (!this.quiet) this.line(msg);
  }

  progress(p: Progress): void {
    if (!this.tty || this.quiet) return;
    const width = 24, done = Math.round((p.step / Math.max(1, p.steps)) * width);
    const bar = `${'='.repeat(Math.max(0, done - 1))}${done ? '>' : ''}${' '.repeat(width - done)}`;
    const s = `epoch ${p.epoch}/${p.epochs} [${bar}] ${p.step}/${p.steps}  loss ${fmtNum(p.loss)}  ${p.imagesPerSec.toFixed(1)} img/s  ETA ${fmtTime(p.etaSec)}`;
    process.stderr.write(`\r${s}\x1b[K`);
    this.barShown = true;
  }

  private line(s: string): void {
    if (this.barShown) process.stderr.write('\r\x1b[K');
    this.barShown = false;
    process.stderr.write(`${s}\n`);
  }

  close(): void {
    if (this.barShown) process.stderr.write('\n');
    this.barShown = false;
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

export function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(3);
  return Number(v.toFixed(4)).toString();
}
