// `vnet-native --version`: the package version, how the loaded addon was built (CPU kernel paths,
// CUDA compiled or not and for which architectures, where it was loaded from) and the Node version.
import * as E from '../engine/index.js';
import { packageVersion } from '../data/paths.js';

export { packageVersion };

export function versionText(): string {
  const info = E.info();
  const addonSource = info.addon;
  const m = addonSource.manifest;
  const cuda = info.cudaCompiled
    ? `compiled for ${info.cudaArchs ? info.cudaArchs.split(',').join(' ') : 'unknown architectures'}; ${info.cudaAvailable ? 'a GPU is usable' : `not usable here: ${info.cudaUnavailableReason ?? 'unknown reason'}`}`
    : 'not compiled (CPU backend only)';
  return [
    `vnet-native ${packageVersion()}`,
    `addon: ${addonSource.kind}, ${addonSource.path}`,
    ...(m ? [`  prebuilt for ${m.platform}-${m.arch}, glibc >= ${m.glibcMin ?? '?'}, N-API ${m.napi}, with ${m.builtWith.compiler ?? 'an unknown compiler'}`] : []),
    `  CPU kernels: ${(info.isaCompiled ?? 'portable').split(',').join(', ')} compiled; this CPU runs ${info.isa}`,
    `  CUDA: ${cuda}`,
    `node ${process.version} (N-API ${process.versions.napi}), ${process.platform}-${process.arch}`,
    '',
  ].join('\n');
}
