// Checkpoints: the model's parameters and buffers, the optimizer's slots and the training
// state in one safetensors file (readable by other tools), plus config.json with the flags
// that define the model. Every file is written to a temporary name and renamed.
import fs from 'node:fs';
import path from 'node:path';
import * as E from '../engine/index.js';
import { validateVNetConfig, type VNet, type VNetConfig } from '../nn/index.js';
import type { Optimizer } from '../optim/index.js';
import { DataError, makeDirs, readJsonFile, writeFileAtomicSync } from '../data/index.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { halfToFloat } from './half.js';
import { MAX_INPUT_SIZE, RunError, type ModelConfigFile } from '../config/options.js';

/** minute_<m>: the weights after m minutes of training (--save_at_minutes). */
export type CheckpointName = 'latest' | 'final' | 'best' | `minute_${string}`;

/** What training needs to continue exactly where it stopped. */
export interface TrainState {
  epoch: number; // epochs completed
  step: number;
  optimizer: string;
  loader?: unknown;
  lossScale?: number;
  goodSteps?: number;
  bestDice?: number;
  /** Seconds spent training (steps and their data), evaluation and checkpoint writes excluded. */
  trainSeconds?: number;
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
  const model = net.store.entries();
  // Check everything before assigning anything: a refused file leaves the model untouched.
  for (const [k, t] of model) {
    const e = tensors.get(k);
    if (!e) throw new RunError(`${file} has no tensor ${k}: it was written for a different model (config.json disagrees with the weights?)`, 'VNET_E_CONFIG_MISMATCH');
    if (e.shape.join(',') !== t.shape.join(','))
      throw new RunError(`${file}: ${k} has shape [${e.shape}] but the model expects [${t.shape}] (config.json disagrees with the weights?)`, 'VNET_E_CONFIG_MISMATCH');
    if (e.dtype === 'F16') tensors.set(k, { ...e, dtype: 'F32', data: halfToFloat(e.data as Uint16Array) });
    checkValues(file, k, tensors.get(k)!);
  }
  const known = new Set(model.map(([k]) => k));
  const extra = [...tensors.keys()].filter((k) => !k.startsWith('optimizer/') && !known.has(k));
  if (extra.length) throw new RunError(`${file} holds tensors the model does not have (${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', ...' : ''}): config.json disagrees with the weights`, 'VNET_E_CONFIG_MISMATCH');
  for (const [k] of model) net.store.assign(k, E.tensor(tensors.get(k)!.data as Float32Array, tensors.get(k)!.shape, { device }));
  let state: TrainState;
  try {
    state = JSON.parse(metadata?.state ?? '') as TrainState;
  } catch {
    throw new RunError(`${file} has no training state in its metadata`, 'VNET_E_CHECKPOINT');
  }
  checkState(state, file);
  if (opt) {
    const slots = new Map<string, E.Tensor>();
    for (const [k, e] of tensors) if (k.startsWith('optimizer/')) checkValues(file, k, e);
    for (const [k, e] of tensors)
      if (k.startsWith('optimizer/')) slots.set(k.slice('optimizer/'.length), E.keep(E.tensor(e.data as Float32Array, e.shape, { device })));
    opt.load({ step: state.step, slots });
  }
  return { file, state };
}

/** The training state drives the resumed loop (epoch, step, loss scale): each field in range. */
function checkState(st: unknown, file: string): void {
  const s = st as Partial<TrainState>;
  // null: JSON's spelling of a NaN or infinite value we wrote ourselves; the loop treats it as absent.
  const finitePos = (v: unknown) => v === undefined || v === null || (typeof v === 'number' && Number.isFinite(v) && v > 0);
  const ok = isObj(st) && intIn(s.epoch, 0, 1e9) && intIn(s.step, 0, 1e15) && typeof s.optimizer === 'string'
    && isObj(s.history) && Array.isArray(s.history.losses) && Array.isArray(s.history.evals)
    && finitePos(s.lossScale) && (s.goodSteps === undefined || intIn(s.goodSteps, 0, 1e15))
    && (s.bestDice === undefined || s.bestDice === null || typeof s.bestDice === 'number');
  if (!ok) throw new RunError(`${file}: the training state in its metadata is malformed (epoch, step, optimizer, history, loss scale)`, 'VNET_E_CHECKPOINT');
}

/** Weights are F32 (F16 files are widened on reading) and finite: NaN weights would predict all-background masks without a word. */
function checkValues(file: string, name: string, e: { dtype: string; data: ArrayLike<number> }): void {
  if (e.dtype !== 'F32') throw new RunError(`${file}: ${name} is ${e.dtype}; checkpoints hold F32 or F16 tensors`, 'VNET_E_CHECKPOINT');
  const d = e.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v - v !== 0) throw new RunError(`${file}: ${name} holds a non-finite value (${v}) at element ${i}`, 'VNET_E_CHECKPOINT');
  }
}

export function writeModelConfig(modelDir: string, cfg: ModelConfigFile): void {
  makeDirs(modelDir);
  writeFileAtomicSync(configFile(modelDir), JSON.stringify(cfg, null, 2) + '\n');
}

export function readModelConfig(modelDir: string): ModelConfigFile {
  const file = configFile(modelDir);
  if (!fs.existsSync(file)) throw new RunError(`no ${file}: --model_dir does not hold a trained model`, 'VNET_E_NO_CHECKPOINT');
  let v: unknown;
  try {
    v = readJsonFile(file);
  } catch (e) {
    throw new RunError(`${file} cannot be read (${e instanceof DataError ? e.detail : (e as Error).message})`, 'VNET_E_CHECKPOINT');
  }
  return checkModelConfig(v, file);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const intIn = (v: unknown, lo: number, hi: number) => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
const intList = (v: unknown, lo: number, hi: number, len?: number) =>
  Array.isArray(v) && (len === undefined || v.length === len) && v.length <= 16 && v.every((x) => intIn(x, lo, hi));

/**
 * A config.json as this version writes it, every field in range: one of another version, an
 * empty one or an edited one is refused by name instead of building a wrong network.
 */
export function checkModelConfig(v: unknown, file: string): ModelConfigFile {
  const bad = (m: string): never => { throw new RunError(`${file}: ${m}`, 'VNET_E_CHECKPOINT'); };
  if (!isObj(v)) return bad('not a JSON object');
  if (v.version !== 1) bad(`config version ${JSON.stringify(v.version)}; this vnet-native reads version 1`);
  const m = v.model;
  if (!isObj(m)) return bad('no "model" object');
  if (!intList(m.inputShape, 1, MAX_INPUT_SIZE, 3)) bad(`model.inputShape ${JSON.stringify(m.inputShape)} is not 3 sizes in 1..${MAX_INPUT_SIZE}`);
  if (!intList(m.downscaleBlocks, 1, 64) || !intList(m.upscaleBlocks, 1, 64)) bad('model.downscaleBlocks / upscaleBlocks must be lists of block counts in 1..64');
  if (!intIn(m.baseFilters, 1, 512)) bad(`model.baseFilters ${JSON.stringify(m.baseFilters)} is not in 1..512`);
  if (!intIn(m.nClasses, 2, 1024)) bad(`model.nClasses ${JSON.stringify(m.nClasses)} is not in 2..1024`);
  if (!(typeof m.bnMomentum === 'number' && m.bnMomentum >= 0 && m.bnMomentum < 1)) bad('model.bnMomentum must be in [0, 1)');
  if (!(typeof m.bnEps === 'number' && m.bnEps > 0 && Number.isFinite(m.bnEps))) bad('model.bnEps must be a positive number');
  if (m.normalization !== undefined && !['batchnorm', 'none', 'instancenorm'].includes(m.normalization as string)) bad('model.normalization must be batchnorm, none or instancenorm');
  if (m.resize !== undefined && m.resize !== 'none') bad('model.resize must be "none" when present (full resolution)');
  if (m.deepSupervision !== undefined && typeof m.deepSupervision !== 'boolean') bad('model.deepSupervision must be true or false');
  if (m.inChannels !== undefined && !intIn(m.inChannels, 1, 64)) bad(`model.inChannels ${JSON.stringify(m.inChannels)} is not in 1..64`);
  if (m.targetSpacing !== undefined && !(Array.isArray(m.targetSpacing) && m.targetSpacing.length === 3 && m.targetSpacing.every((s) => typeof s === 'number' && Number.isFinite(s) && s > 0)))
    bad(`model.targetSpacing ${JSON.stringify(m.targetSpacing)} is not three positive sizes in mm`);
  if (m.imageInterpolation !== undefined && m.imageInterpolation !== 'cubic') bad(`model.imageInterpolation ${JSON.stringify(m.imageInterpolation)} must be "cubic" when present`);
  if (m.intensity !== undefined) checkIntensity(m.intensity, Number(m.inChannels ?? 1), bad);
  try {
    validateVNetConfig(m as unknown as VNetConfig);
  } catch (e) {
    bad(`model: ${(e as Error).message}`);
  }
  const labels = v.labels;
  if (!Array.isArray(labels) || labels.length !== m.nClasses) return bad(`"labels" must list the model's ${String(m.nClasses)} classes`);
  labels.forEach((l: unknown, i) => {
    if (!isObj(l) || l.value !== i || typeof l.name !== 'string') bad(`labels[${i}] must be {"value": ${i}, "name": "..."}`);
  });
  if (new Set(labels.map((l: { name: string }) => l.name)).size !== labels.length) bad('label names repeat');
  if (v.loss !== 'dice' && v.loss !== 'dice_ce') bad(`loss ${JSON.stringify(v.loss)} is not dice or dice_ce`);
  return v as unknown as ModelConfigFile;
}

/** Each channel's normalisation: a known scheme, and for CT finite statistics with std > 0. */
function checkIntensity(v: unknown, channels: number, bad: (m: string) => never): void {
  if (!Array.isArray(v) || v.length !== channels) bad(`model.intensity must list one normalisation per input channel (${channels})`);
  (v as unknown[]).forEach((n, c) => {
    if (!isObj(n) || !['zscore', 'ct', 'none'].includes(n.scheme as string)) bad(`model.intensity[${c}].scheme must be zscore, ct or none`);
    const x = n as Record<string, unknown>;
    const fin = (y: unknown) => typeof y === 'number' && Number.isFinite(y);
    if (x.scheme === 'ct' && !(Array.isArray(x.clip) && x.clip.length === 2 && x.clip.every(fin) && (x.clip[0] as number) <= (x.clip[1] as number) && fin(x.mean) && fin(x.std) && (x.std as number) > 0))
      bad(`model.intensity[${c}]: a CT channel needs clip [lo, hi], mean and std > 0 (the training statistics)`);
  });
}

/**
 * Lists the fields where two model configs differ ("" when they match). Channel normalisations
 * compare by scheme: their statistics come from the data, not from flags; so does a target
 * spacing that `b` (the flags' config) leaves to the data (--target_spacing auto).
 */
export function configDiff(a: ModelConfigFile, b: ModelConfigFile): string {
  const diffs: string[] = [];
  const keys = new Set([...Object.keys(a.model), ...Object.keys(b.model)]) as Set<keyof ModelConfigFile['model']>;
  const show = (m: ModelConfigFile['model'], k: keyof ModelConfigFile['model']) => JSON.stringify(k === 'intensity' ? m.intensity?.map((n) => n.scheme) : m[k]);
  for (const k of keys) if (!(k === 'targetSpacing' && b.model.targetSpacing === undefined) && show(a.model, k) !== show(b.model, k)) diffs.push(`${k}: ${show(a.model, k)} vs ${show(b.model, k)}`);
  if (JSON.stringify(a.labels) !== JSON.stringify(b.labels)) diffs.push(`labels: ${JSON.stringify(a.labels)} vs ${JSON.stringify(b.labels)}`);
  return diffs.join('; ');
}

/** Whether `modelDir` holds any checkpoint (a trained model). */
export function hasCheckpoint(modelDir: string): boolean {
  // Not `best` alone: the first epoch writes it just before `latest`, and a run killed between
  // the two has nothing to resume from; it is started again instead of blocking the folder.
  return ['latest', 'final'].some((n) => fs.existsSync(`${modelDir}/${n}.safetensors`));
}
