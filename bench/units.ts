// The fused bias + batch norm + ReLU unit alone (forward in training, backward) on the V-Net's
// activation shapes, per call: wall and CPU time (process.cpuUsage, less distorted by other
// jobs on a busy machine). With --addon (repeatable) it runs itself once per addon per rep,
// alternating, so an old and a new build are compared back to back in one command.
// --threads 1 makes CPU time the work itself (no pool spinning, no waiting for a descheduled peer).
//   node dist/bench/units.js [--batch 8] [--calls 20] [--reps 5] [--threads 2] [--addon OLD.node --addon NEW.node]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as E from '../src/engine/index.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const batch = Number(opt('batch', '8'));
const calls = Number(opt('calls', '20'));
const reps = Number(opt('reps', '5'));
const threads = opt('threads', '2');
const addons = args.flatMap((a, i) => (a === '--addon' ? [args[i + 1]] : []));
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)];
// (D, H, W, C) of the units of `--preset best` (the 40 x 56 x 40 patch).
const shapes: number[][] = [[40, 56, 40, 16], [20, 28, 20, 64], [10, 14, 10, 128]];

type Row = { unit: string; dir: string; wallMs: number; cpuMs: number };

function measure(): Row[] {
  E.useDevice({ threads: Number(threads) });
  const rows: Row[] = [];
  for (const [D, H, W, C] of shapes) {
    E.tidy(() => {
      const shape = [batch, D, H, W, C];
      const x = E.randomUniform(shape, -2, 3, 1), dy = E.randomUniform(shape, -1, 1, 2);
      const b = E.randomUniform([C], -0.1, 0.1, 3), g = E.fill([C], 1), be = E.zeros([C]);
      const rm = E.zeros([C]), rv = E.fill([C], 1);
      const time = (dir: string, f: () => void) => {
        f();
        const wall: number[] = [], cpu: number[] = [];
        for (let i = 0; i < calls; i++) {
          const c0 = process.cpuUsage(), t0 = performance.now();
          E.tidy(f);
          wall.push(performance.now() - t0);
          const c = process.cpuUsage(c0);
          cpu.push((c.user + c.system) / 1000);
        }
        rows.push({ unit: `${batch}x${D}x${H}x${W}x${C}`, dir, wallMs: median(wall), cpuMs: median(cpu) });
      };
      const [y, mean, invstd] = E.runOp('bias_bn_relu_train', [x, b, g, be, rm, rv], { eps: 1e-3, momentum: 0.99 });
      time('train', () => { E.runOp('bias_bn_relu_train', [x, b, g, be, rm, rv], { eps: 1e-3, momentum: 0.99 }); });
      time('bwd', () => { E.runOp('bias_bn_relu_bwd', [dy, y, x, b, g, mean, invstd]); });
    });
  }
  return rows;
}

if (addons.length === 0) {
  console.log(JSON.stringify(measure()));
} else {
  const self = fileURLToPath(import.meta.url);
  const all = new Map<string, Row[][]>(addons.map((a) => [a, []]));
  for (let r = 0; r < reps; r++)
    for (const a of addons) {
      const p = spawnSync(process.execPath, [self, '--batch', String(batch), '--calls', String(calls), '--threads', threads], {
        env: { ...process.env, VNET_ADDON: a }, encoding: 'utf8',
      });
      if (p.status !== 0) throw new Error(`units bench with ${a} failed: ${p.stderr}`);
      all.get(a)!.push(JSON.parse(p.stdout.trim().split('\n').pop()!));
    }
  console.log(`fused unit, batch ${batch}, ${threads} thread(s), median of ${reps} runs x ${calls} calls; wall / CPU ms per call`);
  const first = all.get(addons[0])![0];
  first.forEach((row, i) => {
    const cells = addons.map((a) => {
      const runs = all.get(a)!.map((rs) => rs[i]);
      return `${median(runs.map((q) => q.wallMs)).toFixed(2)} / ${median(runs.map((q) => q.cpuMs)).toFixed(2)}`;
    });
    console.log(`${row.unit.padEnd(18)} ${row.dir.padEnd(6)} ${cells.map((c) => c.padStart(16)).join('')}`);
  });
  console.log(`columns: ${addons.join(', ')}`);
}
