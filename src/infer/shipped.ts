// Models that ship with the package, in <package>/models/<name>/ (config.json, final.safetensors
// with F16 weights, MODEL_CARD.md, SHA256SUMS): `--model hippocampus` finds one by name with no
// network, and its files are checked against SHA256SUMS before use. `packModel` makes one.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readRegularFile, repoRoot, writeFileAtomicSync, makeDirs } from '../data/index.js';
import { RunError } from '../config/options.js';
import { checkpointFile, configFile, readModelConfig } from './checkpoint.js';
import { floatToHalf } from './half.js';
import { readSafetensors, writeSafetensors, type StTensor } from './safetensors.js';

export const SUMS_FILE = 'SHA256SUMS';

/** Where the shipped models are (override for tests: a folder of <name>/ folders). */
export const shippedDir = (root = repoRoot()) => path.join(root, 'models');

/** The names of the shipped models. */
export function shippedModelNames(dir = shippedDir()): string[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && fs.existsSync(path.join(dir, e.name, SUMS_FILE))).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

const NAME = /^[a-z0-9][a-z0-9_-]*$/;

/**
 * `spec` as a model folder: a folder holding config.json, else the name of a shipped model
 * (checked against its SHA256SUMS). Anything else is an error naming the flag and what exists.
 */
export function resolveModel(spec: string, flag = '--model', dir = shippedDir()): { dir: string; name?: string } {
  if (fs.existsSync(configFile(spec))) return { dir: path.resolve(spec) };
  const names = shippedModelNames(dir);
  if (NAME.test(spec) && names.includes(spec)) {
    const d = path.join(dir, spec);
    verifySums(d);
    return { dir: d, name: spec };
  }
  const what = fs.existsSync(spec) ? `${spec} has no config.json (not a trained model folder)` : `${spec} is neither a model folder nor a shipped model`;
  throw new RunError(`${flag} ${what}; shipped models: ${names.length ? names.join(', ') : 'none in this install'}`, 'VNET_E_NO_MODEL');
}

const sha256 = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

/** Every file SHA256SUMS lists has its checksum (`sha256sum -c` format): else VNET_E_CORRUPT_FILE naming the file. */
export function verifySums(d: string): void {
  const sums = fs.readFileSync(path.join(d, SUMS_FILE), 'utf8').split('\n').filter(Boolean);
  for (const line of sums) {
    const m = /^([0-9a-f]{64}) [ *](\S+)$/.exec(line);
    if (!m || m[2].includes('/') || m[2].startsWith('.')) throw new RunError(`${path.join(d, SUMS_FILE)}: malformed line ${JSON.stringify(line)}`, 'VNET_E_CORRUPT_FILE');
    const file = path.join(d, m[2]);
    if (!fs.existsSync(file)) throw new RunError(`${file} is missing from the shipped model (listed in ${SUMS_FILE}); reinstall the package`, 'VNET_E_CORRUPT_FILE');
    if (sha256(readRegularFile(file)) !== m[1]) throw new RunError(`${file} does not match its checksum in ${SUMS_FILE}: the install is damaged; reinstall the package`, 'VNET_E_CORRUPT_FILE');
  }
}

/**
 * Copies the trained model in `src` (config.json and its final checkpoint, else latest) to
 * `out` for shipping: model tensors only (no optimizer state), in F16 when `half`, and writes
 * SHA256SUMS over those files and `extra` (files already in `out`, e.g. the model card).
 */
export async function packModel(src: string, out: string, o: { half: boolean; extra?: string[] }): Promise<{ bytes: number }> {
  const cfg = readModelConfig(src);
  const from = ['final', 'latest'].map((n) => checkpointFile(src, n as 'final')).find((f) => fs.existsSync(f));
  if (!from) throw new RunError(`no final or latest checkpoint in ${src}`, 'VNET_E_NO_CHECKPOINT');
  const { tensors, metadata } = await readSafetensors(from);
  const kept = new Map<string, StTensor>();
  for (const [k, t] of tensors) {
    if (k.startsWith('optimizer/')) continue;
    kept.set(k, o.half && t.dtype === 'F32' ? { dtype: 'F16', shape: t.shape, data: floatToHalf(t.data as Float32Array) } : t);
  }
  makeDirs(out);
  writeFileAtomicSync(configFile(out), `${JSON.stringify(cfg, null, 2)}\n`);
  await writeSafetensors(checkpointFile(out, 'final'), kept, metadata);
  const files = ['config.json', 'final.safetensors', ...(o.extra ?? [])];
  const lines = files.map((f) => `${sha256(readRegularFile(path.join(out, f)))}  ${f}`);
  writeFileAtomicSync(path.join(out, SUMS_FILE), `${lines.join('\n')}\n`);
  return { bytes: files.reduce((a, f) => a + fs.statSync(path.join(out, f)).size, 0) };
}
