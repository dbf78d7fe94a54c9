// npm pack's prepack: compiles the TypeScript and the prebuilt addon that the tarball carries in
// prebuilds/<platform>-<arch>/ (CUDA code included where nvcc exists), and describes that addon
// in manifest.json by loading it. libstdc++ stays dynamic: linking it in statically pulls in
// newer glibc symbols (arc4random, 2.36) than the addon needs otherwise (2.34), so the shared
// one reaches more systems (Ubuntu 22.04, whose libstdc++ has GLIBCXX_3.4.30).
// VNET_PACK_REUSE=1 instead takes dist/ and build/Release/vnet_native.node as they are (fast:
// the package test packs a build CI just made).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon } from './build-addon.js';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
// stderr: npm pack --json prints the tarball's description on stdout.
const say = (line) => process.stderr.write(`vnet-native prepack: ${line}\n`);
const fail = (msg) => {
  process.stderr.write(`vnet-native prepack: ${msg}\n`);
  process.exit(1);
};
const reuse = process.env.VNET_PACK_REUSE === '1';

let addon;
if (reuse) {
  addon = join(root, 'build', 'Release', 'vnet_native.node');
  if (!existsSync(addon)) fail(`VNET_PACK_REUSE=1 but ${addon} does not exist: run \`npm run build\` first`);
  say(`reusing ${addon} and dist/`);
} else {
  say('compiling the TypeScript');
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  if (spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: ['ignore', 2, 2] }).status !== 0) fail('tsc failed (its errors are above)');
  say('building the prebuilt addon (build-prebuilt/, CUDA where nvcc exists)');
  const out = join(root, 'build-prebuilt');
  if (buildAddon(root, { out, cuda: process.env.VNET_CUDA || 'AUTO' }) !== 0) fail('the addon build failed');
  addon = join(out, 'Release', 'vnet_native.node');
}
for (const f of ['dist/src/index.js', 'dist/src/cli/bin.js', 'dist/bindings/native.js', 'dist/bindings/prebuilt.js'])
  if (!existsSync(join(root, f))) fail(`${f} is missing: run \`npm run build:ts\``);
// tsc never deletes: compiled files whose source is gone would ship too.
const stale = ['src', 'bindings'].flatMap((d) => readdirSync(join(root, 'dist', d), { recursive: true }).map((f) => join(d, String(f))))
  .filter((f) => f.endsWith('.js') && !existsSync(join(root, f.replace(/\.js$/, '.ts'))));
if (stale.length) (reuse ? say : fail)(`dist/ holds compiled files with no source (${stale.join(', ')}): delete dist/ and build again`);

// What the addon says about itself, from a separate process (loading it here could abort prepack).
const info = JSON.parse(execFileSync(process.execPath, ['-e', `process.stdout.write(JSON.stringify(require(${JSON.stringify(addon)}).info()))`], { encoding: 'utf8' }));

/** Newest `<prefix>x.y` symbol version the addon needs (objdump), undefined if none or no objdump. */
function newestSymbolVersion(file, prefix) {
  let best;
  try {
    const syms = execFileSync('objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
    for (const m of syms.matchAll(new RegExp(`\\b${prefix}(\\d+(?:\\.\\d+)+)`, 'g'))) {
      const v = m[1].split('.').map(Number);
      const i = best ? v.findIndex((x, k) => x !== (best[k] ?? 0)) : 0;
      if (!best || (i >= 0 && v[i] > (best[i] ?? 0))) best = v;
    }
  } catch { /* no objdump */ }
  return best?.join('.');
}

/** One line of `cmd --version`: the first (compilers) or the last (nvcc). */
const version = (cmd, last = false) => {
  try {
    const lines = execFileSync(cmd, ['--version'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
    return last ? lines.pop() : lines[0];
  } catch {
    return undefined;
  }
};

const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
copyFileSync(addon, join(dir, 'vnet_native.node'));
const isLinux = process.platform === 'linux';
const manifest = {
  platform: process.platform,
  arch: process.arch,
  libc: isLinux ? (process.report.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl') : 'none',
  // Without objdump: the build machine's glibc, an upper bound.
  glibcMin: isLinux ? newestSymbolVersion(addon, 'GLIBC_') ?? process.report.getReport().header.glibcVersionRuntime : undefined,
  glibcxxMin: isLinux ? newestSymbolVersion(addon, 'GLIBCXX_') : undefined,
  napi: 8, // NAPI_VERSION in CMakeLists.txt and binary.napi_versions in package.json
  isaBaseline: process.arch === 'x64' ? 'x86-64' : process.arch,
  isaPaths: String(info.isaCompiled ?? 'portable').split(','),
  cudaCompiled: Boolean(info.cudaCompiled),
  cudaArchs: info.cudaArchs ? String(info.cudaArchs).split(',') : [],
  builtWith: { node: process.version, compiler: version('c++'), nvcc: info.cudaCompiled ? version('nvcc', true) : undefined },
};
writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
say(`${join(dir, 'vnet_native.node')}: ${manifest.platform}-${manifest.arch} glibc >= ${manifest.glibcMin}, CUDA ${manifest.cudaCompiled ? manifest.cudaArchs.join(' ') : 'not compiled'}`);
