// The package's install step: keeps the prebuilt addon when it fits this machine (one line,
// nothing done), else builds the addon from source with cmake-js. VNET_BUILD_FROM_SOURCE=1 forces
// the build; VNET_CUDA=OFF leaves the CUDA backend out. Also the command to run by hand when npm
// skipped install scripts (npm 11 blocks them for dependencies unless approved).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildAddon } from './build-addon.js';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const say = (line) => process.stdout.write(`vnet-native: ${line}\n`);

async function main() {
  // This repository's own `npm ci`: the build is `npm run build`, not an install step.
  if (existsSync(join(root, 'src', 'index.ts'))) {
    say('development checkout: nothing to do at install (build with `npm run build`)');
    return 0;
  }
  const prebuiltJs = join(root, 'dist', 'bindings', 'prebuilt.js');
  if (!existsSync(prebuiltJs)) {
    process.stderr.write(`vnet-native: ${prebuiltJs} is missing: this package was not packed with \`npm pack\` (its prepack compiles the JavaScript)\n`);
    return 1;
  }
  const { checkPrebuilt } = await import(pathToFileURL(prebuiltJs).href);
  const forced = process.env.VNET_BUILD_FROM_SOURCE === '1';
  const pre = checkPrebuilt(root);
  if (pre.ok) {
    // The manifest fits; loading it in a child process also checks what it cannot (libstdc++).
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(pre.path)})`], { encoding: 'utf8' });
    if (r.status !== 0) Object.assign(pre, { ok: false, reason: `the prebuilt addon does not load here: ${(r.stderr.split('\n').find((l) => /Error/.test(l)) ?? r.stderr).trim()}` });
  }
  if (pre.ok && !forced) {
    const m = pre.manifest;
    say(`using the prebuilt addon (${m.platform}-${m.arch}, glibc >= ${m.glibcMin}, N-API ${m.napi}, CUDA ${m.cudaCompiled ? m.cudaArchs.join(' ') : 'not compiled'}); no build needed`);
    return 0;
  }
  const cuda = process.env.VNET_CUDA || 'AUTO';
  say(`building the addon from source with cmake-js (CUDA ${cuda}), because ${forced ? 'VNET_BUILD_FROM_SOURCE=1' : pre.reason}; this takes a few minutes`);
  const status = buildAddon(root, { cuda });
  if (status === 0) say(`built ${join(root, 'build', 'Release', 'vnet_native.node')}`);
  return status;
}

main().then((code) => process.exit(code), (e) => {
  process.stderr.write(`vnet-native: install failed: ${e.message}\n`);
  process.exit(1);
});
