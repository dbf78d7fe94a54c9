#!/usr/bin/env bash
# The GPU check, run on the GPU machine (NVIDIA driver and Python with PyTorch; no Node, no
# network): unpacks the bundle from prepare.sh, points vnet-native at the NVIDIA libraries
# (Python's nvidia/*/lib wheels if the system has none), then runs doctor, the CUDA op checks,
# the conv microbenchmarks, the V-Net benchmark if the bundle has one, and the PyTorch peer.
# Everything is time-boxed to finish within 8 minutes; a short table is printed last.
# Usage: bash bench/gpu/check.sh [bundle.tar.xz]
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." 2>/dev/null && pwd)
BUNDLE=${1:-$ROOT/.bundle/vnet-gpu.tar.xz}
START=$(date +%s)
WORK=$(mktemp -d /tmp/vnet-gpu.XXXXXX)
LOGS=${VNET_GPU_LOGS:-${OUT:-$WORK}/logs}
mkdir -p "$LOGS"
[ -f "$BUNDLE" ] || { echo "no bundle at $BUNDLE (run bench/gpu/prepare.sh on the CPU machine)"; exit 2; }
tar -xJf "$BUNDLE" -C "$WORK" || { echo "could not unpack $BUNDLE"; exit 2; }
B="$WORK/vnet"
trap 'rm -rf "$B" "$WORK/data" "$WORK/data24" "$WORK"/m_train "$WORK"/m_dice_*' EXIT  # keep only the logs
NODE="$B/bin/node"
export VNET_ADDON="$B/build/Release/vnet_native.node"
cd "$B"

# Python's NVIDIA wheels (site-packages/nvidia/<lib>/lib), and torch/lib as a fallback.
PY=$(command -v python3 || true)
if [ -n "$PY" ]; then
  eval "$("$PY" - <<'PYEOF' 2>/dev/null
import importlib.util, os
def pkg_dir(name):
    try:
        spec = importlib.util.find_spec(name)
    except Exception:
        return None
    if spec and spec.submodule_search_locations:
        return list(spec.submodule_search_locations)[0]
    return None
torch_lib = None
t = pkg_dir("torch")
if t and os.path.isdir(os.path.join(t, "lib")):
    torch_lib = os.path.join(t, "lib")
for lib, var in (("cudnn", "VNET_CUDNN_PATH"), ("cublas", "VNET_CUBLAS_PATH"), ("nccl", "VNET_NCCL_PATH")):
    d = pkg_dir("nvidia." + lib)
    cand = os.path.join(d, "lib") if d else None
    if cand and os.path.isdir(cand) and not os.environ.get(var):
        print(f"export {var}={cand!r}")
    elif torch_lib and not os.environ.get(var):
        if any(f.startswith("lib" + lib) for f in os.listdir(torch_lib)):
            print(f"export {var}={torch_lib!r}")
PYEOF
)"
fi
echo "VNET_CUDNN_PATH=${VNET_CUDNN_PATH:-} VNET_CUBLAS_PATH=${VNET_CUBLAS_PATH:-} VNET_NCCL_PATH=${VNET_NCCL_PATH:-}"

run() {  # run <name> <seconds> <command...>: time-boxed, output to the screen and a log
  local name=$1 secs=$2; shift 2
  echo; echo "===== $name (limit ${secs}s)"
  local t0=$(date +%s)
  timeout -k 5 "$secs" "$@" 2>&1 | tee "$LOGS/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "----- $name: exit $rc in $(( $(date +%s) - t0 )) s"
  echo "$rc" >"$LOGS/$name.rc"
}

run doctor 30 "$NODE" -e "const a = require(process.env.VNET_ADDON); console.log(JSON.stringify(JSON.parse(a.doctor()), null, 1)); console.log(JSON.stringify(a.info()))"
run checks 120 "$NODE" dist/bench/gpu/run_checks.js
run conv_bench 110 "$NODE" dist/bench/gpu/conv_bench.js
# The V-Net itself through the CLI (train / predict --benchmark) on a small synthetic dataset.
if [ -f dist/src/cli/main.js ] && [ -f dist/src/runner/synthetic.js ]; then
  DATA="$WORK/data"
  "$NODE" --input-type=module -e "import { writeSyntheticDataset } from '$B/dist/src/runner/synthetic.js'; writeSyntheticDataset('$DATA', { cases: 8, testCases: 2 });" \
    >/dev/null 2>&1 || echo "(could not write the synthetic dataset)"
  run vnet_train 80 "$NODE" dist/src/cli/main.js train --benchmark --device cuda --amp --data_dir "$DATA" \
    --model_dir "$WORK/m_train" --batch_size 8 --warmup_steps 5 --benchmark_steps 30 --progress false
  run vnet_train_xla 60 "$NODE" dist/src/cli/main.js train --benchmark --device cuda --amp --xla --data_dir "$DATA" \
    --model_dir "$WORK/m_train" --batch_size 8 --warmup_steps 5 --benchmark_steps 30 --progress false
  run vnet_predict 45 "$NODE" dist/src/cli/main.js predict --benchmark --device cuda --amp --data_dir "$DATA" \
    --model_dir "$WORK/m_train" --batch_size 8 --warmup_steps 5 --benchmark_steps 30 --progress false
  # AMP against fp32: the demo's short recipe on 24 synthetic cases, hard Dice of each.
  DATA24="$WORK/data24"
  "$NODE" --input-type=module -e "import { writeSyntheticDataset } from '$B/dist/src/runner/synthetic.js'; writeSyntheticDataset('$DATA24', { cases: 24, testCases: 2 });" \
    >/dev/null 2>&1 || echo "(could not write the 24-case synthetic dataset)"
  for p in fp32 amp; do
    flag=""; [ "$p" = amp ] && flag="--amp"
    run "dice_$p" 50 "$NODE" dist/src/cli/main.js train_and_evaluate --device cuda $flag --data_dir "$DATA24" \
      --model_dir "$WORK/m_dice_$p" --batch_size 2 --train_epochs 12 --optimizer adam --base_lr 1e-3 --bn_momentum 0.9 \
      --augment --train_split 0.75 --report false --progress false
  done
else
  echo; echo "===== vnet: no CLI in this bundle (conv-only)"
fi
if [ -n "$PY" ] && [ -f torch_vnet.py ]; then
  left=$(( 470 - ($(date +%s) - START) ))
  [ "$left" -gt 90 ] && left=90
  if [ "$left" -gt 20 ]; then
    run peer "$left" "$PY" torch_vnet.py train --device cuda --amp --channels-last --batches 8 --warmup 3 --min-time 4 --min-iters 10
  fi
fi
echo
echo "================ summary ($(( $(date +%s) - START )) s) ================"
"$NODE" - "$LOGS" "$WORK" <<'JSEOF'
const fs = require('fs'), path = require('path');
const logs = process.argv[2], work = process.argv[3];
const read = (n) => { try { return fs.readFileSync(path.join(logs, n), 'utf8'); } catch { return ''; } };
const rc = (n) => read(n + '.rc').trim() || 'not run';
const rows = [];
const doc = read('doctor.log');
try {
  const d = JSON.parse(doc.slice(doc.indexOf('{'), doc.lastIndexOf('}\n{') + 1 || undefined));
  const g = (d.gpus || [])[0];
  rows.push(['gpu', g ? `${g.name} cc${g.computeCapability}` : `none (${d.reason || '?'})`]);
  rows.push(['driver / runtime', `${d.driver} / ${d.runtime}`]);
  for (const l of ['cudnn', 'cublas', 'nccl']) rows.push([l, d[l].found ? `${d[l].version} ${d[l].path}` : 'MISSING']);
} catch { rows.push(['doctor', `unparsed (exit ${rc('doctor')})`]); }
const chk = read('checks.log');
const pass = (chk.match(/^PASS /gm) || []).length, fail = (chk.match(/^FAIL /gm) || []).length;
rows.push(['op checks', `${pass} pass, ${fail} fail (exit ${rc('checks')})`]);
for (const l of chk.split('\n').filter((l) => l.startsWith('FAIL')).slice(0, 8)) rows.push(['  ' + l.slice(5, 30).trim(), l.slice(30, 110)]);
const cb = read('conv_bench.log');
const peak = cb.match(/measured matrix rate: (.*)/);
if (peak) rows.push(['matrix rate', peak[1]]);
for (const l of cb.split('\n').filter((l) => / fprop | dgrad | wgrad /.test(l)).slice(0, 48)) rows.push(['conv', l.trim()]);
const peer = read('peer.log').split('\n').filter((l) => l.startsWith('{')).map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean);
for (const p of peer) rows.push(['peer ' + p.peer, `${p.mode} batch ${p.batch} amp=${p.amp}: ${p.samples_per_s} samples/s, p50 ${p.p50_ms} ms`]);
for (const m of ['vnet_train', 'vnet_train_xla', 'vnet_predict']) {
  const lines = read(m + '.log').trim().split('\n').filter((l) => l.trim());
  if (lines.length) for (const l of lines.slice(-3)) rows.push([m + ` (exit ${rc(m)})`, l.slice(0, 140)]);
}
const dice = (p) => { try { return JSON.parse(fs.readFileSync(path.join(work, `m_dice_${p}`, 'eval', 'summary.json'), 'utf8')).foreground_mean.Dice; } catch { return undefined; } };
{
  const [a, b] = [dice('fp32'), dice('amp')];
  const ok = a !== undefined && b !== undefined && Math.abs(a - b) <= 0.05;
  rows.push(['AMP vs fp32 Dice', a === undefined || b === undefined ? `missing (exit ${rc('dice_fp32')} / ${rc('dice_amp')})` : `${ok ? 'PASS' : 'FAIL'} fp32 ${a.toFixed(4)}, amp ${b.toFixed(4)} (|diff| <= 0.05)`]);
}
const w = Math.max(...rows.map((r) => r[0].length));
for (const [k, v] of rows) console.log(k.padEnd(w) + '  ' + v);
JSEOF
