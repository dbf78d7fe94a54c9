// Ensembles (--models M1,M2,...): the members are loaded together and their class probabilities
// averaged on each case's own grid (probs.ts), then one argmax. Members must read the input the
// same way (one feed: all windowed, or all resized to one input shape; the same channels and
// normalisation) and share the classes,
// so one preprocessing serves them all.
import fs from 'node:fs';
import type { DatasetSpec } from '../data/index.js';
import type { VNet } from '../nn/index.js';
import { RunError } from '../config/options.js';
import { checkModelLabels, loadModel, type LoadModelOptions } from './model.js';
import { feedOf, inputSpec } from './probs.js';

/** Refuses members that would need different preprocessing or answer other classes. */
export function checkMembers(nets: readonly VNet[], names: readonly string[]): void {
  const norm = (n: VNet) => JSON.stringify(inputSpec(n.config));
  const key = (n: VNet) => (feedOf(n.config) === 'windowed' ? 'at full resolution' : `resized to ${n.config.inputShape.join('x')}`) + (norm(n) === norm(nets[0]) ? '' : `, channels normalised as ${norm(n)}`);
  nets.forEach((n, i) => {
    if (key(n) !== key(nets[0])) throw new RunError(`--models: ${names[i]} reads its input ${key(n)} but ${names[0]} ${key(nets[0])}; an ensemble needs one preprocessing`, 'VNET_E_CONFIG_MISMATCH');
    if (n.config.nClasses !== nets[0].config.nClasses) throw new RunError(`--models: ${names[i]} has ${n.config.nClasses} classes, ${names[0]} ${nets[0].config.nClasses}`, 'VNET_E_CONFIG_MISMATCH');
  });
}

/** Load every member of `--models` for inference, after checking its classes are the dataset's. */
export async function loadMembers(dirs: string[], spec: DatasetSpec, o: LoadModelOptions): Promise<VNet[]> {
  const nets: VNet[] = [];
  try {
    for (const d of dirs) {
      if (!fs.existsSync(d)) throw new RunError(`--models: ${d} does not exist`, 'VNET_E_NO_CHECKPOINT');
      checkModelLabels(d, spec);
      nets.push((await loadModel(d, o)).net);
    }
    checkMembers(nets, dirs);
    return nets;
  } catch (e) {
    for (const n of nets) n.dispose();
    throw e;
  }
}
