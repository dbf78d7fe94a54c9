// Hostile signals: the --gpus launcher killed with SIGKILL (it cannot clean up) or stopped with
// SIGTERM must not leave its rank processes training on and rewriting latest.safetensors.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CLI, TINY, dataset, requireBuilt, tmp } from './helpers.js';

requireBuilt();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
/** Child pids of `pid`, from /proc (no dependency on ps). */
const childrenOf = (pid: number): number[] => fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
  try {
    const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid; // field 4: ppid
  } catch {
    return false; // gone meanwhile
  }
}).map(Number);
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  for (const t0 = Date.now(); Date.now() - t0 < ms; await sleep(100)) if (cond()) return true;
  return cond();
}

test.each(['SIGKILL', 'SIGTERM'] as const)('ranks stop within seconds when their launcher gets %s, and stop writing', async (sig) => {
  const data = dataset();
  const m = path.join(tmp('sig'), 'model');
  const launcher = spawn(process.execPath, [CLI, 'train', '--data_dir', data, '--model_dir', m, ...TINY, '--device', 'cpu', '--gpus', '2', '--train_epochs', '500', '--eval_every', '0'], {
    env: { ...process.env, VNET_NUM_THREADS: '1' }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  launcher.stderr.on('data', (d) => { stderr += String(d); });
  const latest = path.join(m, 'latest.safetensors');
  let ranks: number[] = [];
  try {
    expect(await until(() => (ranks = childrenOf(launcher.pid!)).length === 2, 20_000)).toBe(true);
    // Let the ranks get into training (a checkpoint written) before the launcher dies.
    expect({ trained: await until(() => fs.existsSync(latest), 60_000), stderr }).toMatchObject({ trained: true });
    launcher.kill(sig);
    const t0 = Date.now();
    expect(await until(() => ranks.every((p) => !alive(p)), 15_000)).toBe(true);
    const stoppedMs = Date.now() - t0;
    process.stdout.write(`hostile signals: ranks stopped ${stoppedMs} ms after the launcher's ${sig}\n`);
    const hash = () => crypto.createHash('sha256').update(fs.readFileSync(latest)).digest('hex');
    const h = hash();
    await sleep(1500);
    expect(hash()).toBe(h);
    expect(stoppedMs).toBeLessThan(15_000);
  } finally {
    for (const p of [launcher.pid!, ...ranks]) if (alive(p)) process.kill(p, 'SIGKILL');
  }
}, 120_000);
