// Where the host-shim build puts its files, and the environment of a run on it: the host addon
// (vnet_native_host.node, the CUDA backend compiled for the CPU), the stand-in NVIDIA libraries
// only (no system search), one SM so that grid-stride loops wrap, a small cuDNN workspace.
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../src/data/index.js';

export const ROOT = repoRoot();
export const BUILD = path.join(ROOT, 'build', 'Release');
export const HOST = path.join(BUILD, 'vnet_native_host.node');
export const FAKES = path.join(BUILD, 'fake-nvidia');
export const DIST = path.join(ROOT, 'dist');

/** Why the host-shim tests cannot run here ('' when they can). */
export const hostMissing = !fs.existsSync(HOST) ? `${HOST} is missing (\`npm run build\` builds it with VNET_HOST_KERNELS=ON)`
  : !fs.existsSync(path.join(DIST, 'bench', 'gpu', 'run_checks.js')) ? `${DIST} is missing (run \`npm run build\`)` : '';

/** True, after printing why, when the host-shim tests cannot run. */
export function skipHost(): boolean {
  if (!hostMissing) return false;
  console.log(`skipped: ${hostMissing}`);
  return true;
}

const INHERITED_SETTINGS = ['VNET_FAKE_CUDNN', 'VNET_FAKE_CUDNN_LOG', 'VNET_FAKE_NCCL_LOG', 'VNET_TF32', 'VNET_DETERMINISTIC', 'VNET_LIB_ROOT',
  'VNET_HOST_CUDA_DRIVER', 'VNET_HOST_CUDA_DEVICES', 'VNET_HOST_CUDA_LOG', 'LD_LIBRARY_PATH'];

export function hostEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of INHERITED_SETTINGS) delete env[k];
  return { ...env, VNET_ADDON: HOST, VNET_LIB_SEARCH: 'env', VNET_CUDNN_PATH: FAKES, VNET_CUBLAS_PATH: FAKES, VNET_NCCL_PATH: FAKES,
    VNET_NVRTC_PATH: FAKES, VNET_HOST_CUDA_SMS: '1', VNET_CUDNN_WORKSPACE_MB: '64', ...extra };
}
