// The package as a user gets it: `npm pack` (reusing this build's addon as the prebuilt), install
// of the tarball into a fresh project outside the repository, then import, train, npx and
// require() there. Needs `npm run build` first (CI does it); the packages come from npm's cache.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultDataDir, repoRoot } from '../../src/data/paths.js';
import { readNiftiLabels } from '../../src/data/nifti.js';

const ROOT = repoRoot();
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vnet-package-'));
const proj = path.join(tmp, 'user-project');
const pkgDir = path.join(proj, 'node_modules', 'vnet-native');
const prebuiltKey = `${process.platform}-${process.arch}`;

// A user's environment: none of this repository's overrides, none of the outer npm's settings.
const userEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) =>
  !/^(VNET_|NODE_OPTIONS$|INIT_CWD$)/.test(k) && !(/^npm_/i.test(k) && !/^npm_config_(cache|registry)$/i.test(k))));

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = userEnv): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

let packed: { filename: string; size: number; entryCount: number; files: { path: string }[] };
let installLog = '';

beforeAll(() => {
  for (const f of ['dist/src/index.js', 'dist/bindings/prebuilt.js', 'build/Release/vnet_native.node'])
    if (!fs.existsSync(path.join(ROOT, f))) throw new Error(`${f} is missing: run \`npm run build\` before this test`);
  const out = ok(run('npm', ['pack', '--json', '--pack-destination', tmp], ROOT, { ...userEnv, VNET_PACK_REUSE: '1' }), 'npm pack');
  packed = (JSON.parse(out) as (typeof packed)[])[0];
  fs.mkdirSync(proj);
  fs.writeFileSync(path.join(proj, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', private: true }));
  const r = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', path.join(tmp, packed.filename)], proj);
  installLog = ok(r, 'npm install of the tarball') + r.stderr;
}, 180000);

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the tarball holds the compiled JS, the prebuilt addon and the native sources, nothing else', () => {
  const files = packed.files.map((f) => f.path);
  console.log(`tarball: ${(packed.size / 1e6).toFixed(2)} MB, ${packed.entryCount} files`);
  for (const f of ['package.json', 'README.md', 'LICENSE', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'dist/bindings/native.js',
    `prebuilds/${prebuiltKey}/vnet_native.node`, `prebuilds/${prebuiltKey}/manifest.json`, 'CMakeLists.txt', 'bindings/addon.cc', 'bindings/napi_util.h', 'native/ops.h', 'scripts/install.js', 'src/serve/page/assets/index.html',
    'models/hippocampus/config.json', 'models/hippocampus/final.safetensors', 'models/hippocampus/MODEL_CARD.md', 'models/hippocampus/SHA256SUMS'])
    expect(files).toContain(f);
  // src/bench/peers/: the PyTorch peer script that `vnet-native bench conv` runs;
  // src/serve/page/assets/: the viewer page `serve` answers at /; models/: the shipped models.
  const allowed = /^(package\.json|README\.md|LICENSE|CMakeLists\.txt|bindings\/[^/]*\.(cc|h)|dist\/src\/.*\.(js|d\.ts)|dist\/bindings\/[^/]*\.(js|d\.ts)|prebuilds\/.*|native\/.*|kernels\/.*|scripts\/.*|src\/bench\/peers\/[^/]*\.py|src\/serve\/page\/assets\/[^/]*\.(html|js|css)|models\/[a-z0-9_-]+\/[^/]+)$/;
  expect(files.filter((f) => !allowed.test(f) || f.endsWith('.map'))).toEqual([]);
});

test('install keeps the prebuilt addon and builds nothing', () => {
  expect(installLog).toContain('vnet-native: using the prebuilt addon');
  expect(fs.existsSync(path.join(pkgDir, 'build'))).toBe(false);
});

test('import, V-Net forward pass and two training steps in the user project', () => {
  fs.writeFileSync(path.join(proj, 'train.mjs'), `
import { VNet, RMSProp, tensor, tidy, diceLoss, backward } from 'vnet-native';
const n = 32 * 32 * 32;
const images = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.01));
const labels = Int32Array.from({ length: n }, (_, i) => (i % 32) * 3 >> 5);
const net = new VNet();
const opt = new RMSProp(1e-3);
const shape = tidy(() => net.forward(tensor(images, [1, 32, 32, 32, 1])).shape);
const losses = [0, 1].map(() => tidy(() => {
  const { loss } = diceLoss(net.forward(tensor(images, [1, 32, 32, 32, 1])), tensor(labels, [1, 32, 32, 32]));
  const v = loss.item(); backward(loss); opt.step(net.parameters); net.store.zeroGrad(); return v;
}));
console.log(JSON.stringify({ shape, losses }));
`);
  const res = JSON.parse(ok(run(process.execPath, ['train.mjs'], proj), 'train.mjs')) as { shape: number[]; losses: number[] };
  expect(res.shape).toEqual([1, 32, 32, 32, 3]);
  expect(res.losses).toHaveLength(2);
  for (const l of res.losses) expect(Number.isFinite(l) && l > 0).toBe(true);
});

test('npx vnet-native summary and --version run from the installed package', () => {
  const summary = ok(run('npx', ['--no-install', 'vnet-native', 'summary'], proj), 'npx vnet-native summary');
  expect(summary).toContain('trainable parameters: 3,599,747');
  const v = ok(run('npx', ['--no-install', 'vnet-native', '--version'], proj), 'npx vnet-native --version');
  expect(v).toContain(`vnet-native ${VERSION}`);
  expect(v).toContain(`addon: prebuilt, ${path.join(pkgDir, 'prebuilds', prebuiltKey, 'vnet_native.node')}`);
  expect(v).toMatch(/CPU kernels: .*portable/);
  expect(v).toMatch(/CUDA: (compiled for \S+|not compiled)/);
  expect(v).toContain(`node ${process.version}`);
});

test('npx vnet-native predict -i case.nii.gz -o out --model hippocampus works offline in the user project', () => {
  // A held-out case from the data folder, copied into the user's project as their scan.
  const scan = path.join(defaultDataDir(), 'imagesTr', 'hippocampus_359.nii.gz');
  if (!fs.existsSync(scan)) return void console.log(`skipped: no ${scan} to segment (set VNET_DATA_DIR)`);
  fs.copyFileSync(scan, path.join(proj, 'case.nii.gz'));
  // No network at all where the kernel lets us drop it (a new network namespace has only a
  // loopback that is down); the command must not need one.
  const isolate = spawnSync('unshare', ['-n', 'true']).status === 0;
  if (!isolate) console.log('unshare -n is not permitted here: predict runs with the network present (it opens no connection either way)');
  const [cmd, args] = isolate ? ['unshare', ['-n', 'npx', '--no-install', 'vnet-native']] : ['npx', ['--no-install', 'vnet-native']];
  const r = run(cmd, [...args, 'predict', '-i', 'case.nii.gz', '-o', 'out', '--model', 'hippocampus'], proj);
  expect(r.stderr).toMatch(/the shipped model "hippocampus"/);
  expect(r.status).toBe(0);
  expect(fs.readdirSync(path.join(proj, 'out')).sort()).toEqual(['case.nii.gz', 'report.html', 'volumes.json']);
  const vols = JSON.parse(fs.readFileSync(path.join(proj, 'out', 'volumes.json'), 'utf8')) as { cases: { labels: { value: number; voxels: number }[] }[] };
  // Both hippocampus parts found, each a plausible size (hundreds to a few thousand voxels of 1 mm³).
  for (const v of [1, 2]) expect(vols.cases[0].labels.find((l) => l.value === v)!.voxels).toBeGreaterThan(200);
  // The example is a case the model never trained on: its mask against the expert label.
  const label = path.join(defaultDataDir(), 'labelsTr', path.basename(scan));
  if (!fs.existsSync(label)) return void console.log(`no ${label}: the mask is not compared with its label`);
  const truth = readNiftiLabels(label).data;
  const mask = readNiftiLabels(path.join(proj, 'out', 'case.nii.gz')).data;
  for (const v of [1, 2]) {
    let both = 0, a = 0, b = 0;
    for (let i = 0; i < truth.length; i++) { a += +(truth[i] === v); b += +(mask[i] === v); both += +(truth[i] === v && mask[i] === v); }
    expect(2 * both / (a + b)).toBeGreaterThan(0.8);
  }
});

test('CommonJS: await import() always, require() where Node allows require of ES modules', () => {
  fs.writeFileSync(path.join(proj, 'dyn.cjs'), "import('vnet-native').then((m) => console.log(typeof m.VNet, typeof m.runMode));\n");
  expect(ok(run(process.execPath, ['dyn.cjs'], proj), 'dyn.cjs').trim()).toBe('function function');
  const features = process.features as { require_module?: boolean };
  if (!features.require_module) {
    console.log(`require() of ES modules is not available on Node ${process.version}: CommonJS users write \`const m = await import('vnet-native')\``);
    return;
  }
  fs.writeFileSync(path.join(proj, 'req.cjs'), "const m = require('vnet-native'); console.log(typeof m.VNet, typeof m.runMode);\n");
  expect(ok(run(process.execPath, ['req.cjs'], proj), 'req.cjs').trim()).toBe('function function');
});

test('without a fitting addon: the loader names what it looked for, the install script names the missing tools', () => {
  const pre = path.join(pkgDir, 'prebuilds');
  fs.renameSync(pre, `${pre}.off`);
  try {
    const r = run(process.execPath, ['--input-type=module', '-e', "import 'vnet-native'"], proj);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('VNET_E_NOT_BUILT');
    expect(r.stderr).toContain(path.join(pkgDir, 'build', 'Release', 'vnet_native.node'));
    expect(r.stderr).toContain(`no prebuilt addon for ${prebuiltKey}`);
    expect(r.stderr).toContain(path.join(pkgDir, 'scripts', 'install.js'));
    // The executable (npm's link to it, run without npm) says it in one line, no stack trace.
    const cli = run(path.join(proj, 'node_modules', '.bin', 'vnet-native'), ['summary'], proj);
    expect(cli.status).toBe(1);
    expect(cli.stderr).toMatch(/^vnet-native: error \[VNET_E_NOT_BUILT\]: vnet-native: the native addon is not built\. Looked for: .*\n$/);
  } finally {
    fs.renameSync(`${pre}.off`, pre);
  }
  // No cmake and no compiler on PATH (node is called by its absolute path).
  const bare = fs.mkdtempSync(path.join(tmp, 'bare-path-'));
  const r = run(process.execPath, [path.join(pkgDir, 'scripts', 'install.js')], proj, { ...userEnv, PATH: bare, CXX: '', VNET_BUILD_FROM_SOURCE: '1' });
  expect(r.status).toBe(1);
  expect(r.stdout).toContain('building the addon from source with cmake-js (CUDA AUTO), because VNET_BUILD_FROM_SOURCE=1');
  expect(r.stderr).toMatch(/cannot build the addon from source: missing cmake .*a C\+\+17 compiler/);
  expect(fs.existsSync(path.join(pkgDir, 'build'))).toBe(false);
});

// A full CPU-only source build takes about a minute on two cores: run it with VNET_TEST_SOURCE_BUILD=1.
const sourceBuild = process.env.VNET_TEST_SOURCE_BUILD === '1';
if (!sourceBuild) console.log('package source build: skipped (about a minute on 2 cores); run with VNET_TEST_SOURCE_BUILD=1');
(sourceBuild ? test : test.skip)('VNET_BUILD_FROM_SOURCE=1: the install script builds the addon with cmake-js and the loader prefers it', () => {
  ok(run(process.execPath, [path.join(pkgDir, 'scripts', 'install.js')], proj, { ...userEnv, VNET_BUILD_FROM_SOURCE: '1', VNET_CUDA: 'OFF' }), 'source build');
  const v = ok(run('npx', ['--no-install', 'vnet-native', '--version'], proj), 'npx vnet-native --version');
  expect(v).toContain(`addon: source build, ${path.join(pkgDir, 'build', 'Release', 'vnet_native.node')}`);
  expect(v).toContain('CUDA: not compiled');
  ok(run(process.execPath, ['train.mjs'], proj), 'train.mjs on the source build');
}, 600000);
