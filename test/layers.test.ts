// The layering rules of the Layout table in docs/engineering.md, checked on the import statements: each layer
// imports only from layers below it (never a sibling or a layer above), so folders form no
// cycle; every VNET_* variable is read through src/env.ts (TypeScript) or native/env.cc (C++),
// and that document's table of environment variables lists each one.
import fs from 'node:fs';
import path from 'node:path';
import { ENV_VARS } from '../src/env.js';
import { repoRoot } from '../src/data/index.js';

const ROOT = repoRoot();

/** Layers from the top; a file belongs to the first prefix it starts with. Same rank: siblings. */
const LAYERS: [string, number][] = [
  ['src/index.ts', 12], ['src/cli/', 11], ['src/serve/', 10], ['src/runner/', 10], ['src/train/', 9], ['src/eval/', 8],
  ['src/report/', 9], ['src/export/', 7], ['src/infer/', 6], ['src/bench/', 5], ['src/config/', 4], ['src/data/', 3], ['src/nn/', 3], ['src/optim/', 3],
  ['src/engine/', 2], ['bindings/', 1], ['src/env.ts', 0],
];

function layerOf(file: string): { name: string; rank: number } {
  const hit = LAYERS.find(([p]) => file === p || file.startsWith(p));
  if (!hit) throw new Error(`${file} is in no layer of the table: add its folder to LAYERS and to docs/engineering.md`);
  return { name: hit[0], rank: hit[1] };
}

function walk(dir: string, ext: RegExp): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name), ext) : ext.test(e.name) ? [path.join(dir, e.name)] : []);
}

const sources = [...walk('src', /\.ts$/), ...walk('bindings', /\.ts$/)].filter((f) => !f.endsWith('.d.ts'));

test('each layer imports only from the layers below it', () => {
  const bad: string[] = [];
  for (const file of sources) {
    const from = layerOf(file);
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)\.js'/g)) {
      const target = path.normalize(path.join(path.dirname(file), m[1])) + '.ts';
      const to = layerOf(target);
      if (to.name !== from.name && to.rank >= from.rank) bad.push(`${file} imports ${target} (${from.name} -> ${to.name})`);
    }
  }
  expect(bad).toEqual([]);
});

test('VNET_* variables are read only through src/env.ts and native/env.cc', () => {
  const ts = sources.filter((f) => f !== 'src/env.ts' && /process\.env(\.VNET_|\[)/.test(fs.readFileSync(path.join(ROOT, f), 'utf8')));
  expect(ts).toEqual([]);
  // native/cuda/host/ is the tests' stand-in for the CUDA runtime (never in the GPU addon): its
  // VNET_HOST_CUDA_* variables are the tests' knobs, not the engine's.
  const cc = walk('native', /\.(cc|h|cu|cuh)$/).filter((f) => f !== path.join('native', 'env.cc') && !f.startsWith(path.join('native', 'cuda', 'host')))
    .filter((f) => /getenv\(\s*"VNET_|getenv\([^")]*env_var/.test(fs.readFileSync(path.join(ROOT, f), 'utf8')));
  expect(cc).toEqual([]);
});

test("docs/engineering.md's table lists every environment variable the package reads", () => {
  const native = [...fs.readFileSync(path.join(ROOT, 'native', 'env.cc'), 'utf8').matchAll(/\{"(VNET_[A-Z0-9_]+)",/g)].map((m) => m[1]);
  expect(native.length).toBeGreaterThan(5);
  const readme = fs.readFileSync(path.join(ROOT, 'docs', 'engineering.md'), 'utf8');
  const start = readme.indexOf('### Environment variables');
  expect(start).toBeGreaterThan(0);
  const table = readme.slice(start, readme.indexOf('\n## ', start));
  const listed = new Set([...table.matchAll(/^\| `(VNET_[A-Z0-9_]+)`/gm)].map((m) => m[1]));
  const read = [...Object.keys(ENV_VARS), ...native];
  expect(read.filter((v) => !listed.has(v))).toEqual([]);
  // Build and test variables (scripts/, bench/, tests) may be listed too; nothing else.
  const elsewhere = [...walk('scripts', /\.js$/), ...walk('bench', /\.(ts|sh)$/), ...walk('test', /\.ts$/)].map((f) => fs.readFileSync(path.join(ROOT, f), 'utf8')).join('\n');
  expect([...listed].filter((v) => !read.includes(v) && !elsewhere.includes(v))).toEqual([]);
});
