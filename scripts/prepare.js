// npm's prepare step, which matters for one case: `npm install git+https://...` clones the
// repository, installs its dependencies there and packs it with `prepare` (not `prepack`), so this
// compiles what the tarball needs (scripts/prepack.js). In this repository itself (`npm ci`,
// `npm install`, `npm pack`, where npm's INIT_CWD is inside the checkout) it does nothing: the
// build is `npm run build` and `npm pack` runs prepack.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const initCwd = resolve(process.env.INIT_CWD ?? process.cwd());
const rel = relative(root, initCwd);
const insideCheckout = rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'));
const ready = existsSync(join(root, 'dist', 'bindings', 'prebuilt.js')) && existsSync(join(root, 'prebuilds'));

if (insideCheckout || ready) {
  process.exit(0);
}
process.stderr.write('vnet-native: packing a git checkout: compiling the JavaScript and the addon (scripts/prepack.js)\n');
const r = spawnSync(process.execPath, [join(root, 'scripts', 'prepack.js')], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
