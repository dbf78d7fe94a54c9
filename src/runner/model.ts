// A trained model read back from its folder (config.json + a checkpoint), ready for inference:
// the one loader that evaluate, predict, serve and export use.
import fs from 'node:fs';
import type * as E from '../engine/index.js';
import { VNet } from '../nn/index.js';
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

export async function loadModel(modelDir: string, o: LoadModelOptions = {}): Promise<LoadedModel> {
  const config = readModelConfig(modelDir);
  const prefer = o.prefer ?? ['final', 'latest'];
  const name = prefer.find((n) => fs.existsSync(checkpointFile(modelDir, n)));
  if (!name) throw new RunError(`no checkpoint in ${modelDir} (looked for ${prefer.map((n) => `${n}.safetensors`).join(', ')})`, 'VNET_E_NO_CHECKPOINT');
  const net = new VNet(config.model, { device: o.device ?? 'cpu' });
  try {
    await loadCheckpoint(modelDir, name, net);
  } catch (e) {
    net.dispose();
    throw e;
  }
  net.training = false;
  if (o.amp) net.precision = 'f16';
  net.fused = o.xla ?? false;
  return { net, config, file: checkpointFile(modelDir, name) };
}
