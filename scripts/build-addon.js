// Builds the addon from source with cmake-js (for the install script and prepack): checks the
// tools first so that a missing one is named, and never downloads anything (cmake-js takes the
// Node-API headers from the node-api-headers package because package.json sets binary.napi_versions).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

const onPath = (cmd, args = ['--version']) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

/** The tools a source build needs that this machine lacks, each with what to do. */
export function missingTools() {
  const missing = [];
  if (!onPath('cmake')) missing.push('cmake (>= 3.18; e.g. `apt-get install cmake` or `pip install cmake`)');
  const cxx = process.env.CXX ? [process.env.CXX] : ['c++', 'g++', 'clang++'];
  if (!cxx.some((c) => onPath(c))) missing.push(`a C++17 compiler (${process.env.CXX ? `$CXX=${process.env.CXX} does not run` : 'none of c++, g++, clang++ on PATH'}; e.g. \`apt-get install g++\`)`);
  let cmakeJs;
  try {
    cmakeJs = createRequire(import.meta.url).resolve('cmake-js/bin/cmake-js');
  } catch {
    missing.push('the cmake-js package (a dependency of vnet-native: reinstall without --omit)');
  }
  return { missing, cmakeJs };
}

/**
 * cmake-js compile of the package at `root` into `<out>/Release/vnet_native.node`.
 * cuda: AUTO | ON | OFF. Returns the exit status.
 */
export function buildAddon(root, { out = join(root, 'build'), cuda = process.env.VNET_CUDA || 'AUTO' } = {}) {
  const { missing, cmakeJs } = missingTools();
  if (missing.length) {
    process.stderr.write(`vnet-native: cannot build the addon from source: missing ${missing.join('; ')}\n`);
    return 1;
  }
  const args = [cmakeJs, 'compile', '--directory', root, '--out', out, '--parallel', String(availableParallelism()),
    `--CDVNET_CUDA=${cuda}`, '--CDVNET_HOST_KERNELS=OFF', '--CDVNET_WERROR=OFF'];
  // Its output on stderr: npm pack --json owns stdout.
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 2, 2] });
  if (r.status !== 0) process.stderr.write(`vnet-native: the source build failed (cmake-js exit ${r.status ?? r.signal}); its output is above\n`);
  return r.status ?? 1;
}
