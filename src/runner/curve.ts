// `vnet-native curve`: hard Dice against training time from one run. Every minute_<m> checkpoint
// that --save_at_minutes kept (and final) is evaluated on the held-out cases into
// eval/minute_<m>; the table goes to stdout and <model_dir>/curve.json.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../data/index.js';
import { readSafetensors } from '../infer/safetensors.js';
import { RunError, type RunOptions } from '../config/options.js';
import { readModelConfig, type TrainState } from '../infer/checkpoint.js';
import { runMode, type RunHooks } from './run.js';

export interface CurvePoint {
  checkpoint: string;
  /** The minutes asked for (absent for final). */
  minutes?: number;
  /** Training time when the weights were kept, evaluation excluded. */
  train_seconds: number;
  step: number;
  dice: Record<string, number>;
  foreground_dice: number;
}

/** The minute_<m> checkpoints of `modelDir` by their minutes, then final when it exists. */
export function curveCheckpoints(modelDir: string): { name: string; minutes?: number }[] {
  const names = fs.existsSync(modelDir) ? fs.readdirSync(modelDir) : [];
  const minutes = names.map((f) => /^minute_([0-9]+(?:\.[0-9]+)?)\.safetensors$/.exec(f)).filter((m) => m !== null)
    .map((m) => ({ name: `minute_${m[1]}`, minutes: Number(m[1]) })).sort((a, b) => a.minutes - b.minutes);
  return [...minutes, ...(names.includes('final.safetensors') ? [{ name: 'final' }] : [])];
}

export async function runCurve(o: RunOptions, hooks: RunHooks = {}): Promise<{ points: CurvePoint[]; table: string; file: string }> {
  if (o.models) throw new RunError('curve evaluates the checkpoints of one run (--model_dir); --models is for evaluate and predict', 'VNET_E_BAD_FLAG');
  const todo = curveCheckpoints(o.modelDir);
  if (!todo.some((c) => c.minutes !== undefined))
    throw new RunError(`${o.modelDir} holds no minute_<m>.safetensors: train with --save_at_minutes (e.g. 5,10,20,40,60) first`, 'VNET_E_NO_CHECKPOINT');
  const points: CurvePoint[] = [];
  for (const c of todo) {
    const res = await runMode('evaluate', { ...o, checkpoint: c.name as RunOptions['checkpoint'], report: false }, hooks);
    const state = JSON.parse(readSafetensors(path.join(o.modelDir, `${c.name}.safetensors`)).metadata?.state ?? '{}') as Partial<TrainState>;
    const s = res.eval!.summary;
    points.push({
      checkpoint: c.name, ...(c.minutes !== undefined ? { minutes: c.minutes } : {}), train_seconds: state.trainSeconds ?? NaN, step: state.step ?? NaN,
      dice: Object.fromEntries(Object.entries(s.mean as Record<string, { Dice: number }>).map(([k, v]) => [k, v.Dice])), foreground_dice: s.foreground_mean.Dice,
    });
  }
  const classes = Object.keys(points[0].dice);
  const names = new Map(readModelConfig(o.modelDir).labels.map((l) => [String(l.value), l.name]));
  const rows = [['checkpoint', 'train min', 'step', ...classes.map((k) => `${names.get(k) ?? k} Dice`), 'mean Dice'],
    ...points.map((p) => [p.checkpoint, (p.train_seconds / 60).toFixed(2), String(p.step), ...classes.map((k) => p.dice[k].toFixed(4)), p.foreground_dice.toFixed(4)])];
  const width = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
  const table = rows.map((r) => r.map((v, j) => (j ? v.padStart(width[j]) : v.padEnd(width[j]))).join('  ')).join('\n');
  const file = path.join(o.modelDir, 'curve.json');
  writeFileAtomicSync(file, JSON.stringify({ note: 'hard Dice on the held-out cases against training minutes (evaluation excluded)', points }, null, 2) + '\n');
  return { points, table, file };
}
