// Run logs: dllogger-compatible `DLLL {json}` lines in a file (--log_dir), readable lines on
// stderr, and a progress bar with ETA when stderr is a terminal.
import fs from 'node:fs';
import path from 'node:path';
import { checkOutputFile, makeDirs } from '../data/index.js';

export type LogStep = 'PARAMETER' | number[];

export interface LogSink {
  /** A dllogger record (step "PARAMETER", [n] for training lines, [] for results). */
  log(step: LogStep, data: Record<string, unknown>): void;
  /** A human line on stderr (never in the JSON log). */
  info(msg: string): void;
  progress(p: Progress): void;
  /** Starts writing the log file; called once the run's checks have passed (optional). */
  open?(): void;
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

/** True for a file we may replace with a new log: empty, or one of our DLLL logs. */
export function isOurLog(file: string): boolean {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const b = Buffer.alloc(5);
    const n = fs.readSync(fd, b, 0, 5, 0);
    return n === 0 || b.toString('latin1', 0, n) === 'DLLL ';
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Refuses a --log_dir that would overwrite anything but an earlier log: a checkpoint, an input,
 * a link, a special file. Runs before the log is opened (and the logger opens it only when the
 * run's own checks have passed, see open()).
 */
export function checkLogTarget(logDir: string, inputs: readonly string[] = []): void {
  checkOutputFile(resolveLogFile(logDir), inputs, '--log_dir', isOurLog);
}

export class RunLogger implements LogSink {
  private fd?: number;
  private readonly file?: string;
  /** Records written before open(): the file is not touched until the run's checks passed. */
  private pending: string[] | undefined = [];
  private readonly t0 = Date.now();
  private barShown = false;
  private readonly tty: boolean;

  /** `deferOpen`: keep records in memory until open() (runMode opens once its checks passed). */
  constructor(opts: { logDir?: string; progress?: boolean; quiet?: boolean; deferOpen?: boolean } = {}) {
    this.tty = opts.progress ?? Boolean(process.stderr.isTTY);
    this.quiet = opts.quiet ?? false;
    if (opts.logDir) this.file = resolveLogFile(opts.logDir);
    else this.pending = undefined;
    if (!opts.deferOpen) this.open();
  }

  private readonly quiet: boolean;

  /** Opens the log file (checked by checkLogTarget first) and writes what was logged so far. */
  open(): void {
    if (!this.file || this.fd !== undefined) return;
    checkLogTarget(this.file);
    makeDirs(path.dirname(path.resolve(this.file)));
    const C = fs.constants;
    this.fd = fs.openSync(this.file, C.O_WRONLY | C.O_CREAT | C.O_TRUNC | C.O_NOFOLLOW, 0o644);
    for (const line of this.pending ?? []) fs.writeSync(this.fd, line);
    this.pending = undefined;
  }

  log(step: LogStep, data: Record<string, unknown>): void {
    if (this.file) {
      const now = Date.now();
      const rec = {
        timestamp: String(now / 1000),
        datetime: new Date(now).toISOString(),
        elapsedtime: String((now - this.t0) / 1000),
        type: 'LOG',
        step,
        data,
      };
      const line = `DLLL ${JSON.stringify(rec)}\n`;
      if (this.fd !== undefined) fs.writeSync(this.fd, line);
      else this.pending?.push(line);
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
