// Checkpoints: the model's parameters and buffers, the optimizer's slots and the training
// state in one safetensors file (readable by other tools), plus config.json with the flags
// that define the model. Every file is written to a temporary name and renamed.
import fs from 'node:fs';
import path from 'node:path';
import * as E from '../engine/index.js';
import type { VNet } from '../nn/index.js';
import type { Optimizer } from '../optim/index.js';
import { writeFileAtomicSync } from '../data/index.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { RunError, type ModelConfigFile } from './options.js';

export type CheckpointName = 'latest' | 'final' | 'best';

/** What training needs to continue exactly where it stopped. */
export interface TrainState {
  epoch: number; // epochs completed
  step: number;
  optimizer: string;
  loader?: unknown;
  lossScale?: number;
  goodSteps?: number;
  bestDice?: number;
  history: { losses: { step: number; loss: number }[]; evals: { epoch: number; dice: Record<string, number> }[] };
}

export const checkpointFile = (modelDir: string, name: CheckpointName) => path.join(modelDir, `${name}.safetensors`);
export const configFile = (modelDir: string) => path.join(modelDir, 'config.json');

type Entry = { dtype: 'F32' | 'F16' | 'I32'; shape: number[]; data: Float32Array | Uint16Array | Int32Array };

function entryOf(t: E.Tensor): Entry {
  const data = t.toArray();
  return { dtype: data instanceof Int32Array ? 'I32' : 'F32', shape: [...t.shape], data };
}

export async function saveCheckpoint(modelDir: string, name: CheckpointName, net: VNet, opt: Optimizer | undefined, state: TrainState): Promise<string> {
  const tensors = new Map<string, Entry>();
  for (const [k, t] of net.store.entries()) tensors.set(k, entryOf(t));
  if (opt) for (const [k, t] of opt.state().slots) tensors.set(`optimizer/${k}`, entryOf(t));
  const file = checkpointFile(modelDir, name);
  await writeSafetensors(file, tensors, { format: 'vnet-native', version: '1', state: JSON.stringify(state) });
  return file;
}

export interface LoadedCheckpoint {
  file: string;
  state: TrainState;
}

/**
 * Loads a checkpoint into `net` (and `opt`'s slots when given). Every model tensor must be in
 * the file with the same shape: anything else means another model, a clear error.
 */
export async function loadCheckpoint(modelDir: string, name: CheckpointName, net: VNet, opt?: Optimizer): Promise<LoadedCheckpoint> {
  const file = checkpointFile(modelDir, name);
  if (!fs.existsSync(file)) throw new RunError(`no checkpoint ${file}: train a model into --model_dir first`, 'VNET_E_NO_CHECKPOINT');
  const { tensors, metadata } = await readSafetensors(file);
  const device = net.store.device;
  for (const [k, t] of net.store.entries()) {
    const e = tensors.get(k);
    if (!e) throw new RunError(`${file} has no tensor ${k}: it was written for a different model`, 'VNET_E_CONFIG_MISMATCH');
    if (e.shape.join(',') !== t.shape.join(','))
      throw new RunError(`${file}: ${k} has shape [${e.shape}] but the model expects [${t.shape}]`, 'VNET_E_CONFIG_MISMATCH');
    net.store.assign(k, E.tensor(e.data as Float32Array, e.shape, { device }));
  }
  let state: TrainState;
  try {
    state = JSON.parse(metadata?.state ?? '') as TrainState;
  } catch {
    throw new RunError(`${file} has no training state in its metadata`, 'VNET_E_CHECKPOINT');
  }
  if (opt) {
    const slots = new Map<string, E.Tensor>();
    for (const [k, e] of tensors)
      if (k.startsWith('optimizer/')) slots.set(k.slice('optimizer/'.length), E.keep(E.tensor(e.data as Float32Array, e.shape, { device })));
    opt.load({ step: state.step, slots });
  }
  return { file, state };
}

export function writeModelConfig(modelDir: string, cfg: ModelConfigFile): void {
  fs.mkdirSync(modelDir, { recursive: true });
  writeFileAtomicSync(configFile(modelDir), JSON.stringify(cfg, null, 2) + '\n');
}

export function readModelConfig(modelDir: string): ModelConfigFile {
  const file = configFile(modelDir);
  if (!fs.existsSync(file)) throw new RunError(`no ${file}: --model_dir does not hold a trained model`, 'VNET_E_NO_CHECKPOINT');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as ModelConfigFile;
  } catch (e) {
    throw new RunError(`${file} is not valid JSON (${(e as Error).message})`, 'VNET_E_CHECKPOINT');
  }
}

/** Lists the fields where two model configs differ ("" when they match). */
export function configDiff(a: ModelConfigFile, b: ModelConfigFile): string {
  const diffs: string[] = [];
  const keys = new Set([...Object.keys(a.model), ...Object.keys(b.model)]) as Set<keyof ModelConfigFile['model']>;
  for (const k of keys) if (JSON.stringify(a.model[k]) !== JSON.stringify(b.model[k])) diffs.push(`${k}: ${JSON.stringify(a.model[k])} vs ${JSON.stringify(b.model[k])}`);
  if (JSON.stringify(a.labels) !== JSON.stringify(b.labels)) diffs.push(`labels: ${JSON.stringify(a.labels)} vs ${JSON.stringify(b.labels)}`);
  return diffs.join('; ');
}
