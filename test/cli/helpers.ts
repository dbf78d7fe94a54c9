// Helpers for end-to-end tests: a small dataset made of real cases (dataset.json in a temp
// folder pointing at ../shared by absolute path, nothing copied), and the CLI run as a user
// runs it (node on the compiled dist/).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultDataDir, repoRoot } from '../../src/data/index.js';

export const ROOT = repoRoot();
export const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

export function requireBuilt(): void {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before the end-to-end tests`);
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `vnet-${prefix}-`));
}

/** A dataset.json over the first `nTrain` labelled and `nTest` unlabelled real cases. */
export function realSubset(nTrain: number, nTest: number): string {
  const src = defaultDataDir();
  const ds = JSON.parse(fs.readFileSync(path.join(src, 'dataset.json'), 'utf8')) as { training: { image: string; label: string }[]; test: string[] };
  const dir = tmpDir('data');
  const abs = (p: string) => path.resolve(src, p);
  const json = {
    name: 'Hippocampus subset', modality: { 0: 'MRI' }, labels: { 0: 'background', 1: 'Anterior', 2: 'Posterior' },
    numTraining: nTrain, numTest: nTest,
    training: ds.training.slice(0, nTrain).map((c) => ({ image: abs(c.image), label: abs(c.label) })),
    test: ds.test.slice(0, nTest).map(abs),
  };
  fs.writeFileSync(path.join(dir, 'dataset.json'), JSON.stringify(json, null, 1));
  return dir;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { env?: Record<string, string> } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, VNET_NUM_THREADS: '2', ...opts.env },
    timeout: 600_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the CLI in the background (for kill tests). */
export function startCli(args: string[]) {
  return spawn(process.execPath, [CLI, ...args], { env: { ...process.env, VNET_NUM_THREADS: '2' }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Fast network flags for tests: 16³ input, two levels. */
export const SMALL_NET = ['--input_shape', '16', '16', '16', '--downscale_blocks', '1', '1', '--upscale_blocks', '1'];

export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = fs.readFileSync(p).toString('base64');
    }
  };
  walk(dir);
  return out;
}
