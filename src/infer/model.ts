// The V-Net of a run: buildModel makes it from a config with the run's precision (--amp) and
// fused kernels (always on the CPU, --xla on CUDA), for training and inference alike; loadModel reads a trained one back
// from its folder (config.json + a checkpoint), the one loader evaluate, predict, serve and
// export use.
import fs from 'node:fs';
import type * as E from '../engine/index.js';
import { VNet, type VNetConfig } from '../nn/index.js';
import { checkpointFile, loadCheckpoint, readModelConfig, type CheckpointName } from './checkpoint.js';
import { RunError, type ModelConfigFile } from './options.js';

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
  return { net, config, file: checkpointFile(modelDir, name) };
}
