// The PyTorch peer of `vnet-native bench conv`: the same problems through torch (CPU or CUDA, as
// the benchmark's device) in one long-lived peers/torch_conv.py process, fed one case at a time
// right before our own timing of it, so both see the same load. A missing Python or torch is
// a note, not an error. The script ships in the package (src/bench/peers/).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { envValue } from '../env.js';
import type { BenchOptions } from './conv.js';
import { geometry, type ConvProblem } from './problem.js';

export type PeerTimes = Map<string, { ms: number; layout: string }>;

/** The key a benchmark row and a peer result share. */
export const peerKey = (dtype: string, math: string, direction: string) => `${dtype}/${math}/${direction}`;

export function peerScript(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  // src/bench/ (ts-jest) or dist/src/bench/ (compiled; the script stays under src/bench/peers).
  return [resolve(here, 'peers', 'torch_conv.py'), resolve(here, '..', '..', '..', 'src', 'bench', 'peers', 'torch_conv.py')].find(existsSync);
}

type Line = Record<string, unknown>;

export class TorchPeer {
  private queue: Line[] = [];
  private waiting?: (l: Line | undefined) => void;
  private closed = false;

  private constructor(private child: ChildProcessWithoutNullStreams, private lines: Interface, private o: BenchOptions, readonly note: string, public skipped: string[] = []) {}

  /** Starts the peer: $VNET_PYTHON, else python3 on the PATH, then the system's (a virtualenv
   *  or pyenv python3 often lacks the distribution's torch). Returns why not when none works. */
  static async start(o: BenchOptions, threads: number): Promise<TorchPeer | string> {
    const script = peerScript();
    if (!script) return 'peer torch skipped: src/bench/peers/torch_conv.py is missing from this install';
    const args = [script, '--threads', String(threads), '--warmup', String(o.warmup), '--reps', String(o.minReps), '--min_time', String(o.minTime), '--max_reps', String(o.maxReps), '--device', o.device];
    const python = envValue('VNET_PYTHON');
    const pythons = python ? [python] : ['python3', '/usr/bin/python3'];
    let why = '';
    for (const py of pythons) {
      const child = spawn(py, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
      const spawned = await new Promise<Error | undefined>((res) => {
        child.once('spawn', () => res(undefined));
        child.once('error', (e) => res(e));
      });
      if (spawned) {
        why ||= `could not run ${py} (${(spawned as NodeJS.ErrnoException).code ?? spawned.message}); set VNET_PYTHON to a Python with torch`;
        continue;
      }
      child.stdin.on('error', () => {}); // a peer that died answers nothing more (measure sees 'close')
      const peer = new TorchPeer(child, createInterface({ input: child.stdout }), o, '');
      peer.lines.on('line', (l) => peer.push(l));
      peer.lines.on('close', () => peer.finish());
      const head = await peer.next();
      if (!head || head.skipped) {
        why ||= head ? `${String(head.skipped)} (${py}; pip install torch, or apt-get install python3-torch)` : `${py} printed nothing (${stderr.trim().split('\n').pop() ?? ''})`;
        peer.close();
        continue;
      }
      const note = `peer: PyTorch ${String(head.torch)} on ${o.device}, ${String(head.threads)} threads${o.device === 'cuda' ? `, cuDNN ${String(head.cudnn)}` : `, mkldnn ${String(head.mkldnn)}`}`;
      return Object.assign(peer, { note });
    }
    return `peer torch skipped: ${why}`;
  }

  private push(l: string): void {
    let o: Line;
    try {
      o = JSON.parse(l) as Line;
    } catch {
      return;
    }
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w(o);
    } else this.queue.push(o);
  }

  private finish(): void {
    this.closed = true;
    this.waiting?.(undefined);
  }

  private next(): Promise<Line | undefined> {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((res) => (this.waiting = res));
  }

  /** The peer's times for every direction, dtype and math of one case (empty once it has died). */
  async measure(p: ConvProblem, n: number): Promise<PeerTimes> {
    const times: PeerTimes = new Map();
    if (this.closed) return times;
    const g = geometry(p, n);
    for (const dtype of this.o.dtypes)
      for (const math of dtype === 'f16' ? ['fp16'] : this.o.maths) {
        const id = `${p.name}@${n}/${dtype}/${math}`;
        this.child.stdin.write(JSON.stringify({
          id, transposed: p.transposed, input: p.input, filters: p.filters, kernel: p.kernel, stride: p.stride,
          pad_front: g.padFront, pad_back: g.padBack, out: g.xSpatial, directions: this.o.directions, dtype, math, device: this.o.device,
        }) + '\n');
        for (let l = await this.next(); l && l.done === undefined; l = await this.next()) {
          if (l.skipped) this.skipped.push(`${p.name}@${n}: ${String(l.skipped)}`);
          else times.set(peerKey(dtype, math, String(l.direction)), { ms: Number(l.ms), layout: String(l.layout) });
        }
      }
    return times;
  }

  close(): void {
    if (!this.child.killed && this.child.exitCode === null) {
      this.child.stdin.end();
      this.child.kill();
    }
    this.lines.close();
  }
}
