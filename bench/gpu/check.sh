#!/usr/bin/env bash
# The GPU check, run on the GPU machine (NVIDIA driver, Python with PyTorch and the nvidia
# wheels; no Node, no network) on the bundle from prepare.sh. One deadline (300 s by default)
# for everything; the planned steps, in order of value, each run in its own time box, and their
# boxes sum to at most the deadline, so a run that hangs nowhere returns them all and leaves
# the rest of a short GPU window for one targeted rerun (--only). Extra steps follow while time
# is left. A step is skipped, with the reason recorded, when less time is left than its box.
# After every step $OUT holds, rewritten:
#   results.jsonl  one JSON line per step: step, status, rc, seconds, box, reason, data
#   summary.txt    the table          all.log  everything printed
#   doctor.json    the addon's doctor  conv.jsonl  the conv table, row by row as measured
#   manifest.json  the bundle's manifest (versions, addon sha256)
# Usage: bash bench/gpu/check.sh [--dry-run] [--deadline SECONDS] [--only STEP,STEP] [BUNDLE]
#   --dry-run: the same harness on a CPU machine (CPU device, tiny sizes, GPU-only steps
#   skipped with the reason), on BUNDLE if given, else on this checkout's own build; it also
#   prints the GPU plan and fails when its boxes add up to more than the deadline.
#   --only: a targeted rerun (unpack, preflight, doctor and dataset always run).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DRY=0 DEADLINE=${VNET_GPU_DEADLINE:-300} BUNDLE="" ONLY=""
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) DRY=1 ;;
    --deadline) DEADLINE=$2; shift ;;
    --only) ONLY=$2; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) BUNDLE=$1 ;;
  esac
  shift
done

# ---- the plan: step:box(seconds), in the order the steps run --------------------------------
# conv_smoke is the first process to load cuDNN (its sub-libraries, hundreds of MB) and to run
# cuDNN's timed algorithm search for every convolution of the op table in f32 and f16: its box
# is sized for that. Every benchmark process pays its own cuDNN load and search too.
# PLAN_LIMIT is the GPU window's budget for the planned steps (VNET_GPU_PLAN replaces the plan,
# e.g. for another window; the dry run fails when the boxes do not fit the budget).
PLAN_LIMIT=300
PLAN=${VNET_GPU_PLAN:-"unpack:10 preflight:10 doctor:15 conv_smoke:45 checks_ops:30 golden:25 graph:25 nccl:15 dataset:10 train_amp:35 train_tf32:35 peer:35 compare:5"}
EXTRA="memory:15 api_check:15 conv_table:45 train_xla:35 infer_amp:25 infer_tf32:25 train_fp32:35 train_amp_b32:40 dice_fp32:60 dice_amp:60 dice_pair:1"
box_of() {
  local e
  for e in $PLAN $EXTRA; do [ "${e%%:*}" = "$1" ] && { echo "${e#*:}"; return; }; done
  echo "no box for step $1" >&2; echo 0
}

START=$(date +%s)
WORK=$(mktemp -d /tmp/vnet-gpu.XXXXXX)
SAMPLER=""
trap '[ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null; rm -rf "$WORK"' EXIT
OUT=${OUT:-$WORK/out}
mkdir -p "$OUT"
: >"$OUT/results.jsonl"
: >"$OUT/all.log"
STEPS=()  # summary rows: "name|status|rc|seconds|box|text"

say() { echo "$*" | tee -a "$OUT/all.log"; }
left() { echo $(( DEADLINE - ($(date +%s) - START) )); }
jstr() {  # a JSON string literal of $1 (quotes, backslashes, control characters)
  printf '"%s"' "$(printf '%s' "$1" | tr '\n\t\r' '   ' | sed 's/\\/\\\\/g; s/"/\\"/g' | tr -d '\000-\037')"
}

write_summary() {
  {
    echo "vnet-native GPU check$([ $DRY = 1 ] && echo ' (DRY RUN: CPU, tiny sizes)'): $(( $(date +%s) - START )) s of a ${DEADLINE} s deadline"
    printf '%-14s %-8s %4s %6s %5s  %s\n' step status rc secs box "key numbers / reason"
    for row in "${STEPS[@]}"; do
      IFS='|' read -r n st rc secs box text <<<"$row"
      printf '%-14s %-8s %4s %6s %5s  %s\n' "$n" "$st" "$rc" "$secs" "$box" "${text:0:230}"
    done
  } >"$OUT/summary.txt.tmp" && mv "$OUT/summary.txt.tmp" "$OUT/summary.txt"
}

# record NAME STATUS RC SECONDS BOX REASON DATA(json array body) TEXT
record() {
  local rc=$3; [ -n "$rc" ] || rc=null
  printf '{"step":%s,"status":%s,"rc":%s,"seconds":%s,"box":%s,"reason":%s,"data":[%s]}\n' \
    "$(jstr "$1")" "$(jstr "$2")" "$rc" "$4" "$5" "$(jstr "$6")" "$7" >>"$OUT/results.jsonl"
  STEPS+=("$1|$2|${3:--}|$4|$5|${8:-$6}")
  write_summary
}

skip() { say "----- $1: skipped: $2"; record "$1" skipped "" 0 "$(box_of "$1")" "$2" "" ""; }

# The plan, printed and recorded; its boxes must fit the deadline.
plan_sum=0 plan_rows=""
for e in $PLAN; do plan_sum=$(( plan_sum + ${e#*:} )); plan_rows="$plan_rows${plan_rows:+,}{\"step\":\"${e%%:*}\",\"box\":${e#*:}}"; done
extra_sum=0
for e in $EXTRA; do extra_sum=$(( extra_sum + ${e#*:} )); done
say "vnet-native GPU check: deadline ${DEADLINE} s$([ $DRY = 1 ] && echo ', DRY RUN on the CPU'); results in $OUT"
say "plan (boxes, seconds): $(echo $PLAN | sed 's/:/ /g; s/ \([a-z]\)/, \1/g') = ${plan_sum} s of ${PLAN_LIMIT} s"
say "then while time is left: $(echo $EXTRA | sed 's/:/ /g; s/ \([a-z]\)/, \1/g') (${extra_sum} s)"
plan_ok=PASS; [ "$plan_sum" -le "$PLAN_LIMIT" ] || plan_ok=FAIL
record plan "$plan_ok" "" 0 "$plan_sum" "planned boxes sum to ${plan_sum} s of the ${PLAN_LIMIT} s budget" \
  "{\"sum\":$plan_sum,\"budget\":$PLAN_LIMIT,\"deadline\":$DEADLINE,\"extra\":$extra_sum,\"steps\":[$plan_rows]}" "boxes sum ${plan_sum} s <= ${PLAN_LIMIT} s: $plan_ok"
if [ "$plan_ok" = FAIL ]; then say "the planned boxes (${plan_sum} s) exceed the ${PLAN_LIMIT} s budget"; [ $DRY = 1 ] && exit 1; fi

# The SM clock while steps run (nvidia-smi every half second, on the GPU machine only): each
# step records its median, and the conv table's peak uses the clock the training steps
# sustained instead of the maximum boost clock (which reads about 8 % high under tensor load).
clock_during() {  # clock_during T0 T1: median SM clock and the maximum boost clock (MHz) in [T0, T1]
  [ -s "$WORK/clocks.txt" ] || return 0
  local v n
  v=$(awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b && $2 ~ /^[0-9]+$/ { print $2 }' "$WORK/clocks.txt" | sort -n)
  [ -n "$v" ] || return 0
  n=$(printf '%s\n' "$v" | wc -l)
  printf '{"sm_clock_mhz_median":%s,"sm_clock_mhz_max_boost":%s,"clock_samples":%s}\n' "$(printf '%s\n' "$v" | sed -n "$(( (n + 1) / 2 ))p")" \
    "$(awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b && $3 + 0 > m { m = $3 + 0 } END { print m + 0 }' "$WORK/clocks.txt")" "$n"
}

# step NAME COMMAND...: runs COMMAND under its box's timeout unless less time is left;
# the "@@ {json}" lines it prints become its data. PARSE=bench|peer|conv adds parsed data.
step() {
  local name=$1 box; box=$(box_of "$1"); shift
  if [ -n "$ONLY" ] && [[ ",$ONLY,unpack,preflight,doctor,dataset," != *",$name,"* ]]; then skip "$name" "not in --only"; return 0; fi
  local l; l=$(left)
  if [ "$l" -lt "$box" ]; then skip "$name" "time left ${l} s < box ${box} s"; return 0; fi
  say ""; say "===== $name (box ${box} s, ${l} s left)"
  local log="$WORK/$name.log" t0; t0=$(date +%s)
  rm -f "$log"
  case ${PARSE:-} in
    conv) timeout -k 5 "$box" "$@" 2>&1 | tee -a "$OUT/all.log" "$log" | grep --line-buffered '^{' >"$OUT/conv.jsonl" ;;
    *) timeout -k 5 "$box" "$@" 2>&1 | tee -a "$OUT/all.log" "$log" >/dev/null ;;
  esac
  local rc=${PIPESTATUS[0]} t1; t1=$(date +%s)
  local secs=$(( t1 - t0 ))
  local data; data=$(sed -n 's/^@@ \({.*}\)[[:space:]]*$/\1/p' "$log")
  case ${PARSE:-} in
    bench) data=$(printf '%s\n%s' "$data" "$(parse_bench "$log")") ;;
    peer) data=$(printf '%s\n%s' "$data" "$(grep '^{"peer"' "$log")") ;;
    conv) data=$(printf '%s\n{"rows":%s}' "$data" "$(wc -l <"$OUT/conv.jsonl")") ;;
  esac
  data=$(printf '%s\n%s\n' "$data" "$(clock_during "$t0" "$t1")" | sed '/^$/d' | paste -sd, -)
  local st=ok reason=""
  case $rc in 0) ;; 124|137) st=timeout; reason="killed at its ${box} s box" ;; *) st=fail; reason="exit $rc: $(first_error "$log")" ;; esac
  say "----- $name: $st (exit $rc) in ${secs} s"
  record "$name" "$st" "$rc" "$secs" "$box" "$reason" "$data" "$(printf '%s' "$data" | head -c 400) ${reason}"
}

# The line that says why a step failed: a sticky CUDA error, else the first FAIL or error line.
first_error() {
  grep -m1 '^STICKY' "$1" || grep -m1 -E '^FAIL|[Ee]rror' "$1" || grep -v '^@@' "$1" | tail -1
}

# train/predict --benchmark print "  throughput  X images/s (total ...)" and the percentiles.
parse_bench() {
  awk '/^  throughput  .*total images/ {t=$2} /^  latency p50\/p90\/p95\/p99/ {p50=$3; p99=$9} /^  peak resident memory/ {m=$4}
       END { if (t != "") { printf "{\"images_per_s\":%s", t; if (p50 != "") printf ",\"p50_ms\":%s,\"p99_ms\":%s", p50, p99; if (m != "") printf ",\"peak_rss_mb\":%s", m; print "}" } }' "$1"
}

# ---- the bundle ------------------------------------------------------------------------------
unpack() {  # unpack FILE DIR: tar with xz or gzip, else Python's tarfile (no xz binary needed)
  case $1 in
    *.xz) command -v xz >/dev/null && tar -xJf "$1" -C "$2" && return 0 ;;
    *) tar -xzf "$1" -C "$2" && return 0 ;;
  esac
  echo "tar could not unpack $1; trying Python's tarfile"
  python3 -c 'import sys, tarfile; t = tarfile.open(sys.argv[1]); t.extractall(sys.argv[2], **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))' "$1" "$2"
}

[ -n "$BUNDLE" ] || { [ $DRY = 0 ] && BUNDLE=$(ls "$ROOT"/.bundle/vnet-gpu.tar.* 2>/dev/null | head -1); }
if [ -n "$BUNDLE" ]; then
  [ -f "$BUNDLE" ] || { say "no bundle at $BUNDLE (run bench/gpu/prepare.sh on the CPU machine)"; record unpack fail 2 0 0 "no bundle at $BUNDLE" ""; exit 2; }
  export -f unpack
  step unpack bash -c 'unpack "$0" "$1"' "$BUNDLE" "$WORK"
  B="$WORK/vnet"
  [ -f "$B/build/Release/vnet_native.node" ] || { say "the bundle did not unpack"; record bundle fail 2 0 0 "no addon in the unpacked bundle" ""; exit 2; }
  NODE="$B/bin/node"
  cp "$B/manifest.json" "$OUT/manifest.json" 2>/dev/null
else
  [ $DRY = 1 ] || { say "no bundle in $ROOT/.bundle (run bench/gpu/prepare.sh on the CPU machine)"; record unpack fail 2 0 0 "no bundle in $ROOT/.bundle" ""; exit 2; }
  B=$ROOT NODE=$(command -v node)
  skip unpack "dry run on this checkout's own build (no bundle given)"
fi
export VNET_ADDON="$B/build/Release/vnet_native.node"
CLI="$B/dist/src/cli/main.js"
CHECKS="$B/dist/bench/gpu/run_checks.js"
cd "$WORK"

# ---- preflight: the machine, without Node ----------------------------------------------------
preflight() {
  echo "uname: $(uname -srm)"; echo "node: $NODE ($("$NODE" --version 2>&1))"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.sm,power.limit --format=csv,noheader
  else echo "nvidia-smi: not found"; fi
  command -v python3 >/dev/null || { echo "python3: not found"; return 0; }
  # The nvidia wheels' folders (CUDA 13: cuBLAS, cuBLASLt and NVRTC share nvidia/cu13) as
  # exports for the later steps, and what PyTorch itself reports.
  PYTHONUNBUFFERED=1 python3 - "$WORK/libs.env" <<'PYEOF'
import importlib.util, json, os, sys
def pkg(name):
    try:
        s = importlib.util.find_spec(name)
        return list(s.submodule_search_locations)[0] if s and s.submodule_search_locations else None
    except Exception:
        return None
def has(d, prefix):
    return d and os.path.isdir(d) and any(f.startswith(prefix) for f in os.listdir(d))
lib = lambda n: (pkg('nvidia.' + n) or '') + '/lib'
inc = lambda n: (pkg('nvidia.' + n) or '') + '/include'
exports, info = {}, {'python': sys.version.split()[0]}
for var, cands, prefix in (('VNET_CUDNN_PATH', ['cudnn'], 'libcudnn.so'), ('VNET_CUBLAS_PATH', ['cu13', 'cublas'], 'libcublas.so'),
                           ('VNET_NVRTC_PATH', ['cu13', 'cuda_nvrtc'], 'libnvrtc.so'), ('VNET_NCCL_PATH', ['nccl'], 'libnccl.so')):
    for c in cands:
        if has(lib(c), prefix):
            exports[var] = lib(c)
            break
incs = [inc(n) for n in ('cudnn', 'cu13', 'cublas', 'nccl', 'cuda_runtime') if os.path.isdir(inc(n))]
exports['VNET_INC_DIRS'] = ':'.join(incs)
with open(sys.argv[1], 'w') as f:
    for k, v in exports.items():
        f.write(f"export {k}='{v}'\n")
try:
    import torch
    info.update(torch=torch.__version__, torch_cuda=torch.version.cuda, torch_cudnn=torch.backends.cudnn.version(),
                gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none')
    try:
        info['torch_nccl'] = '.'.join(map(str, torch.cuda.nccl.version()))
    except Exception:
        pass
except Exception as e:
    info['torch'] = 'unavailable: ' + str(e)[:120]
info.update({k: v for k, v in exports.items()})
print('@@ ' + json.dumps(info))
PYEOF
}
export NODE B WORK OUT DRY
export -f preflight
step preflight bash -c preflight
[ -f "$WORK/libs.env" ] && . "$WORK/libs.env" && cat "$WORK/libs.env" >>"$OUT/all.log"
if [ $DRY = 0 ] && command -v nvidia-smi >/dev/null; then
  ( while :; do
      printf '%s %s\n' "$(date +%s)" "$(nvidia-smi --query-gpu=clocks.sm,clocks.max.sm,power.draw --format=csv,noheader,nounits 2>/dev/null | head -1 | tr -d ',')"
      sleep 0.5
    done >"$WORK/clocks.txt" ) &
  SAMPLER=$!
fi

# The addon's own library search first (no VNET_*_PATH), then with the wheels' folders.
doctor() {
  env -u VNET_CUDNN_PATH -u VNET_CUBLAS_PATH -u VNET_NCCL_PATH -u VNET_NVRTC_PATH \
    "$NODE" "$B/dist/bench/gpu/doctor_step.js" "$WORK/doctor_search.json" search || echo "FAIL doctor with the addon's own search: exit $?"
  VNET_DOCTOR_FIRST="$WORK/doctor_search.json" "$NODE" "$B/dist/bench/gpu/doctor_step.js" "$OUT/doctor.json" used
}
export -f doctor
step doctor bash -c doctor

# ---- correctness, one section per process (a sticky CUDA error costs one section) ------------
# CUDA_LAUNCH_BLOCKING=1 where a fault must be pinned to its launch (the first convolutions,
# the hand-written kernels); never for the graph (capture refuses it) or timings.
if [ $DRY = 1 ]; then DEV=cpu BLOCK=(); else DEV=cuda BLOCK=(env CUDA_LAUNCH_BLOCKING=1); fi
step conv_smoke ${BLOCK[@]+"${BLOCK[@]}"} "$NODE" "$CHECKS" conv --device $DEV
step checks_ops ${BLOCK[@]+"${BLOCK[@]}"} "$NODE" "$CHECKS" ops --device $DEV
step golden "$NODE" "$CHECKS" golden --device $DEV
if [ $DRY = 1 ]; then
  for s in graph nccl; do skip "$s" "GPU-only (dry run): needs CUDA"; done
else
  step graph env VNET_DETERMINISTIC=1 "$NODE" "$CHECKS" graph --device cuda
  # One rank on one node: NCCL's bootstrap over the loopback interface (no network there).
  step nccl env NCCL_SOCKET_IFNAME=lo NCCL_DEBUG=WARN "$NODE" "$CHECKS" nccl --device cuda
fi

# ---- the V-Net through the CLI, and its peer ---------------------------------------------------
if [ $DRY = 1 ]; then
  CASES=4 SHAPE="[20,20,20]" BATCHES="2" BIG=""
  NET=(--input_shape 16 16 16 --downscale_blocks 1 1 1 --upscale_blocks 1 1 --threads 2)
  STEPS_B=(--warmup_steps 1 --benchmark_steps 2) EPOCHS=1
else
  CASES=32 SHAPE="[36,48,36]" BATCHES="8 32" BIG=32
  NET=() STEPS_B=(--warmup_steps 5 --benchmark_steps 20) EPOCHS=8
fi
DATA="$WORK/data" DATA24="$WORK/data24" B1=${BATCHES%% *}
step dataset "$NODE" --input-type=module -e "
  import { writeSyntheticDataset } from '$B/dist/src/data/synthetic.js';
  const t0 = Date.now();
  writeSyntheticDataset('$DATA', { cases: $CASES, testCases: $B1, shape: $SHAPE }); // predict --benchmark needs a batch of test images
  writeSyntheticDataset('$DATA24', { cases: $([ $DRY = 1 ] && echo 4 || echo 24), testCases: 2, shape: $SHAPE });
  console.log('@@ ' + JSON.stringify({ cases: $CASES, ms: Date.now() - t0 }));"
HAVE_DATA=0; [ -f "$DATA/dataset.json" ] && HAVE_DATA=1

bench() {  # bench NAME MODE BATCH FLAGS...: the CLI's train/predict --benchmark
  local name=$1 mode=$2 batch=$3; shift 3
  [ $HAVE_DATA = 1 ] || { skip "$name" "no synthetic dataset (the dataset step was skipped or failed)"; return; }
  PARSE=bench step "$name" "$NODE" "$CLI" "$mode" --benchmark --device $DEV --data_dir "$DATA" \
    --model_dir "$WORK/m_$name" --batch_size "$batch" "${STEPS_B[@]}" "${NET[@]}" --progress false "$@"
}

bench train_amp train "$B1" --amp
bench train_tf32 train "$B1"
# The clock the training steps sustained, for the conv table's peak.
SUSTAINED=$(grep -E '"step":"train_(amp|tf32)"' "$OUT/results.jsonl" | grep -o '"sm_clock_mhz_median":[0-9]*' | cut -d: -f2 | sort -n | head -1)

peer() {
  local p=$1; shift
  [ -f "$p" ] || { echo "no peer script in the bundle"; return 1; }
  python3 -c 'import torch' 2>/dev/null || { echo "no PyTorch here"; return 1; }
  local rc=0
  PYTHONUNBUFFERED=1 python3 "$p" train --device cuda --channels-last --amp --batches "$B1" --warmup 3 --min-time 3 --min-iters 10 || rc=$?
  PYTHONUNBUFFERED=1 python3 "$p" train --device cuda --channels-last --batches "$B1" --warmup 3 --min-time 3 --min-iters 10 || rc=$?
  return $rc
}
if [ $DRY = 1 ]; then skip peer "GPU-only (dry run): the PyTorch peer runs on cuda"; else
  export B1; export -f peer
  PARSE=peer step peer bash -c "peer '$B/torch_vnet.py'"; fi
step compare "$NODE" "$B/dist/bench/gpu/compare.js" "$OUT/results.jsonl" "$B1"  # ours / the peer's

# ---- extras, while time is left ----------------------------------------------------------------
if [ $DRY = 1 ]; then skip memory "GPU-only (dry run): needs CUDA"; else
  step memory "$NODE" "$CHECKS" memory --device cuda; fi

# The hand-written cuDNN / cuBLAS / NCCL declarations against the real headers (seconds).
api_check() {
  local cxx; cxx=$(command -v g++ || command -v c++ || command -v clang++) || { echo "no C++ compiler"; return 1; }
  local args=(-std=c++17 -fsyntax-only) d
  IFS=: read -ra incs <<<"${VNET_INC_DIRS:-}"
  for d in "${incs[@]}" /usr/local/cuda/include /usr/local/cuda/targets/x86_64-linux/include; do [ -d "$d" ] && args+=(-I"$d"); done
  [ "$DRY" = 0 ] && args+=(-DVNET_API_CHECK_REQUIRE)  # here (dry run) the headers may be absent
  echo "$cxx ${args[*]} api_check.cc"
  "$cxx" "${args[@]}" "$B/native/cuda/api_check.cc" 2>&1 | tee "$WORK/api_check.out"
  local rc=${PIPESTATUS[0]}
  printf '@@ {"compiler":"%s","checked":"%s","errors":%s}\n' "$cxx" "$(sed -n 's/.*api_check: checking <\(.*\)>.*/\1/p' "$WORK/api_check.out" | sort -u | paste -sd' ' -)" "$(grep -c 'error:' "$WORK/api_check.out")"
  return "$rc"
}
export -f api_check
step api_check bash -c api_check

# The conv table: `vnet-native bench conv` (CUDA events around the library call), bounded to
# batch 8 and the two precisions training uses, rows kept as they come (a timeout keeps them).
if ! "$NODE" "$CLI" bench conv --help 2>/dev/null | grep -q -- '--vnet'; then
  skip conv_table "no 'bench conv' command in this bundle"
elif [ $DRY = 1 ]; then  # the same plumbing, one small layer on the CPU
  PARSE=conv step conv_table "$NODE" "$CLI" bench conv --vnet --layers down2.res --device cpu --batch 2 --json \
    --warmup 1 --min-reps 2 --min-time 0.02
else
  PARSE=conv step conv_table env ${SUSTAINED:+VNET_GPU_CLOCK_MHZ=$SUSTAINED} "$NODE" "$CLI" bench conv --vnet --device cuda --batch 8 \
    --dtype f16,f32 --math tf32 --json --min-time 0.05 --check_limit 5e7
fi

bench train_xla train "$B1" --amp --xla
bench infer_amp predict "$B1" --amp
bench infer_tf32 predict "$B1"
bench train_fp32 train "$B1" --no-tf32
[ -n "$BIG" ] && bench train_amp_b$BIG train "$BIG" --amp

# ---- AMP against fp32: the demo's short recipe, hard Dice of each -----------------------------
dice_run() {  # dice_run NAME FLAGS...: train_and_evaluate, then its foreground Dice as data
  "$NODE" "$CLI" train_and_evaluate --device "$DEV" --data_dir "$DATA24" --model_dir "$WORK/m_$1" --batch_size 2 \
    --train_epochs "$EPOCHS" --optimizer adam --base_lr 1e-3 --bn_momentum 0.9 --augment --augment_mode flips \
    --train_split 0.75 --report false --progress false "${@:2}" || return $?
  "$NODE" -e 'const s = require(process.argv[1]); console.log("@@ " + JSON.stringify({ dice: s.foreground_mean.Dice }))' "$WORK/m_$1/eval/summary.json"
}
if [ $HAVE_DATA = 1 ]; then
  export CLI DEV DATA24 EPOCHS; export -f dice_run
  step dice_fp32 bash -c "dice_run dice_fp32 ${NET[*]}"
  step dice_amp bash -c "dice_run dice_amp --amp ${NET[*]}"
  a=$(grep '"step":"dice_fp32"' "$OUT/results.jsonl" | sed -n 's/.*"dice":\([-0-9.eE+]*\).*/\1/p')
  b=$(grep '"step":"dice_amp"' "$OUT/results.jsonl" | sed -n 's/.*"dice":\([-0-9.eE+]*\).*/\1/p')
  if [ -n "$a" ] && [ -n "$b" ]; then
    v=$(awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; if (d < 0) d = -d; printf "%s %.4f", (d <= 0.05 ? "PASS" : "FAIL"), d }')
    record dice_pair "${v%% *}" "" 0 1 "" "{\"fp32\":$a,\"amp\":$b,\"abs_diff\":${v#* },\"tol\":0.05}" "fp32 $a amp $b |diff| ${v#* } (<= 0.05)"
  else
    skip dice_pair "a Dice is missing (fp32: ${a:-none}, amp: ${b:-none})"
  fi
else
  skip dice_pair "no synthetic dataset (the dataset step was skipped or failed)"
fi

say ""
say "================ summary ($(( $(date +%s) - START )) s) ================"
cat "$OUT/summary.txt" | tee -a "$OUT/all.log"
