// The V-Net of a run: buildModel makes it from a config with the run's precision (--amp) and
// fused kernels (always on the CPU, --xla on CUDA), for training and inference alike; loadModel
// reads a trained one back from its folder (config.json + a checkpoint), the one loader
// evaluate, predict, serve and export use, and fixes its feed (probs.ts) there.
import fs from 'node:fs';
import type * as E from '../engine/index.js';
import type { DatasetSpec } from '../data/index.js';
import { VNet, type VNetConfig } from '../nn/index.js';
import { RunError, type ModelConfigFile } from '../config/options.js';
import { checkpointFile, configDiff, loadCheckpoint, readModelConfig, type CheckpointName } from './checkpoint.js';
import { feedOf, type Feed } from './probs.js';

export interface LoadModelOptions {
  device?: E.DeviceName;
  /** fp16 activations and convolutions (the trained weights stay fp32). */
  amp?: boolean;
  /** the fused bias+BN+ReLU kernels. */
  xla?: boolean;
  /** checkpoints to try, first found wins (default final, then latest). */
  prefer?: CheckpointName[];
}

export interface LoadedModel {
  net: VNet;
  config: ModelConfigFile;
  /** the checkpoint file the weights came from. */
  file: string;
  /** how the model reads a volume: resized to its input shape, or windowed at full resolution. */
  feed: Feed;
}

/** A V-Net for `cfg` on `device`, seeded, with fp16 activations under `amp` and fused kernels under `xla`. */
export function buildModel(cfg: VNetConfig, o: { device?: E.DeviceName; seed?: number; amp?: boolean; xla?: boolean }): VNet {
  const net = new VNet(cfg, { device: o.device ?? 'cpu', seed: o.seed });
  if (o.amp) net.precision = 'f16';
  if (o.xla) net.fused = true;
  return net;
}

export async function loadModel(modelDir: string, o: LoadModelOptions = {}): Promise<LoadedModel> {
  const config = readModelConfig(modelDir);
  const prefer = o.prefer ?? ['final', 'latest'];
  const name = prefer.find((n) => fs.existsSync(checkpointFile(modelDir, n)));
  if (!name) throw new RunError(`no checkpoint in ${modelDir} (looked for ${prefer.map((n) => `${n}.safetensors`).join(', ')})`, 'VNET_E_NO_CHECKPOINT');
  const net = buildModel(config.model, o);
  try {
    await loadCheckpoint(modelDir, name, net);
  } catch (e) {
    net.dispose();
    throw e;
  }
  net.training = false;
  return { net, config, file: checkpointFile(modelDir, name), feed: feedOf(config.model) };
}

/**
 * The config stored in `modelDir`; refuses when `flags` (the run's config from its flags)
 * defines a different model, so a checkpoint is never loaded into the wrong network.
 */
export function checkStoredConfig(modelDir: string, flags: ModelConfigFile): ModelConfigFile {
  const cfg = readModelConfig(modelDir);
  const diff = configDiff(cfg, flags);
  if (diff) throw new RunError(`the model in ${modelDir} was trained with a different configuration (${diff}); pass the same model flags or another --model_dir`, 'VNET_E_CONFIG_MISMATCH');
  return cfg;
}

/**
 * The dataset's classes must be the model's (values and names): otherwise evaluation would
 * score class k under another class's name, and predictions would be read with the wrong map.
 */
export function checkModelLabels(modelDir: string, spec: DatasetSpec): void {
  const cfg = readModelConfig(modelDir);
  const fmt = (l: { value: number; name: string }[]) => l.map((c) => `${c.value}=${c.name}`).join(', ');
  if (fmt(cfg.labels) !== fmt(spec.labels))
    throw new RunError(`the model in ${modelDir} has classes {${fmt(cfg.labels)}} but ${spec.jsonPath} has {${fmt(spec.labels)}}; use the dataset the model was trained on`, 'VNET_E_CONFIG_MISMATCH');
}
