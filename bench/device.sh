#!/usr/bin/env bash
# bench/device.sh - the one script to run on a GPU machine: build clpt with the
# CUDA backend for the GPU present, run the tests labelled `cuda`, then
# benchmark GPT-2 124M..1.5B training and evaluation, and write a Markdown
# table and the raw logs under $OUT. Each step is time-boxed and a failing
# step is logged and skipped, so one run always ends with a summary.
#
# On the GPU machine, from the repository root (about 6-8 minutes):
#     bench/device.sh                 build, test, benchmark
#     bench/device.sh build test      only those phases (also: suite, e2e, torch, bench, profile, sanitize)
#     bench/device.sh summary         summary.md again from the logs already in $OUT
# Environment: OUT (default ./out-device); CLPT_CUDA_ARCH (default: the GPU's
# compute capability, e.g. 90); CLPT_DEVICE_BUILD (the build folder, default
# ./build-device; one outside a tree that is copied anew for each command
# lets a later command run other phases without building again);
# CLPT_DEVICE_BUDGET (seconds after which the remaining benchmarks are
# skipped, default 480); CLPT_DEVICE_QUICK=1 (124M
# and 1.5B with bf16 activations only); CLPT_DEVICE_FULL=1 (also the slower
# kernels measured before); CLPT_BENCH_ATTN / CLPT_BENCH_ACT / CLPT_BENCH_GELU
# (the size sweep's attention, activations and GELU fusion 0|1); CLPT_DEVICE_FORCE_DEPS=1 (use build-deps/ even if the system has
# the libraries; for testing the fallback); CLPT_E2E_BACKEND (default cuda).
#
# The device image may lack clpt's build dependencies (OpenBLAS, inih, cJSON,
# Lua 5.4, zlib, pkg-config) and cannot download them. Fetch them HERE first:
#     bench/device.sh fetch-deps      .deb files into build-deps/ (git-ignored)
# and copy build-deps/ to the GPU machine with the tree; they are unpacked under
# /tmp/clpt-deps there (never over the system) and used only if needed.
#
# $OUT receives summary.md, gpu.txt, build.log, tests.log, bench.log and,
# with the profile, suite and e2e phases, profile.log, suite.log and e2e-*.log.
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
OUT=${OUT:-$ROOT/out-device}
BUILD=${CLPT_DEVICE_BUILD:-$ROOT/build-device}
DEPS=/tmp/clpt-deps
BUDGET=${CLPT_DEVICE_BUDGET:-480}
DEB_PKGS="libopenblas-openmp-dev libopenblas-dev libopenblas0-openmp libinih-dev libinih1
  libcjson-dev libcjson1 liblua5.4-dev liblua5.4-0 zlib1g-dev zlib1g pkgconf pkgconf-bin
  libpkgconf3 pkg-config libgfortran5 libquadmath0"

# ---- pack-e2e: runs on the development machine: the quickstart corpus and a
# CPU run's journals into DIR (e.g. a snapshot of the tree to carry) ----------
if [ "${1:-}" = pack-e2e ]; then
  dir=${2:?usage: bench/device.sh pack-e2e DIR}
  [ -f data/quickstart/manifest.json ] && [ -d runs/quickstart ] ||
    { echo "pack-e2e: run tools/quickstart.sh first (data/quickstart, runs/quickstart)" >&2; exit 1; }
  mkdir -p "$dir/data" "$dir/runs/quickstart-ref"
  rm -rf "$dir/data/quickstart" && cp -r data/quickstart "$dir/data/"
  rm -f "$dir/data/quickstart/verified.json"
  for j in runs/quickstart/*/journal.jsonl; do
    r=$(basename "$(dirname "$j")")
    mkdir -p "$dir/runs/quickstart-ref/$r" && cp "$j" "$dir/runs/quickstart-ref/$r/"
  done
  # the CPU run's base model, so that the GPU run's cells differ only by the
  # domain training (a base trained on the GPU moves every cell by a few %)
  rm -rf "$dir/runs/quickstart-base"
  [ -d runs/quickstart/base/checkpoint ] && cp -r runs/quickstart/base "$dir/runs/quickstart-base"
  echo "pack-e2e: $(du -sh "$dir/data/quickstart" | cut -f1) of corpus, $(ls "$dir/runs/quickstart-ref" | wc -l) journals" \
    "and $(du -sh "$dir/runs/quickstart-base" 2>/dev/null | cut -f1) of base model in $dir"
  exit 0
fi

# ---- fetch-deps: runs on the development machine, not the GPU one ------------
if [ "${1:-}" = fetch-deps ]; then
  mkdir -p build-deps && cd build-deps || exit 1
  # shellcheck disable=SC2086
  apt-get download $DEB_PKGS || exit 1
  bash ../tools/cudnn_frontend.sh # the cuDNN frontend headers, into build-deps/cudnn-frontend
  echo "build-deps/: $(ls ./*.deb | wc -l) packages, $(du -sh . | cut -f1); copy build-deps/ along with the tree"
  exit 0
fi

mkdir -p "$OUT"
SUMMARY=$OUT/summary.md
# bench.log is begun afresh, except by `summary`, which renders the logs
# already in $OUT again (as tests/test_device_summary.sh does)
[ "${1:-}" = summary ] || : >"$OUT/bench.log"
START=$SECONDS
elapsed() { echo $((SECONDS - START)); }
note() { echo "$*" | tee -a "$OUT/steps.txt"; }
: >"$OUT/steps.txt"

# ---- environment ------------------------------------------------------------------
gpu_info() {
  {
    echo "date: $(date -u +%FT%TZ)"
    nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap,clocks.sm,clocks.max.sm,power.limit \
      --format=csv 2>&1
    nvidia-smi 2>&1 | head -20
    echo; nvcc --version 2>&1 | tail -2
    echo; cmake --version 2>&1 | head -1
    echo "cpus: $(nproc)"; git -C "$ROOT" log --oneline -1 2>&1
  } >"$OUT/gpu.txt"
  GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
  GPU_NAME=${GPU_NAME:-unknown GPU}
  local cc
  cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  ARCH=${CLPT_CUDA_ARCH:-${cc:-90}}
  # dense bf16 datasheet peaks (TFLOP/s): SXM 989, PCIe 756, H200 NVL 835
  case "$GPU_NAME" in
    *H100*PCIe*) PEAK=756 ;;
    *H200*NVL*|*H100*NVL*) PEAK=835 ;;
    *H100*|*H200*) PEAK=989 ;;
    *A100*) PEAK=312 ;;
    *) PEAK=989 ;;
  esac
  note "GPU: $GPU_NAME (sm_$ARCH), datasheet bf16 peak $PEAK TFLOP/s"
}

have_system_deps() {
  command -v pkg-config >/dev/null 2>&1 &&
    pkg-config --exists inih libcjson lua5.4 zlib 2>/dev/null &&
    [ -f /usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h ] &&
    [ -e /usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so ]
}

# Unpack carried .debs under $DEPS (never over the system) and point
# pkg-config and CMake there. The loader gets only the shared libraries the
# system lacks ($DEPS/ld): an older copy must not shadow a system library.
use_carried_deps() {
  rm -rf "$DEPS" && mkdir -p "$DEPS/ld"
  for f in "$ROOT"/build-deps/*.deb; do dpkg-deb -x "$f" "$DEPS" || return 1; done
  # .pc files and absolute symlinks name /usr or /lib: make them name $DEPS
  find "$DEPS" -name '*.pc' -exec sed -i "s#/usr#$DEPS/usr#g" {} +
  find "$DEPS" -type l | while read -r l; do
    t=$(readlink "$l")
    case "$t" in /*) [ -e "$DEPS$t" ] && ln -sfn "$DEPS$t" "$l" ;; esac
  done
  local known name lib=$DEPS/usr/lib/x86_64-linux-gnu
  known=$( (ldconfig -p || /sbin/ldconfig -p) 2>/dev/null | awk '{print $1}')
  for so in "$lib"/lib*.so.[0-9]* "$lib"/openblas-openmp/lib*.so.[0-9]* "$DEPS"/lib/x86_64-linux-gnu/lib*.so.[0-9]*; do
    name=$(basename "$so")
    [[ -e "$so" && $name =~ ^lib.*\.so\.[0-9]+$ ]] || continue # sonames only
    echo "$known" | grep -qxF "$name" || ln -sfn "$so" "$DEPS/ld/$name"
  done
  export PKG_CONFIG_PATH="$lib/pkgconfig:$DEPS/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export LD_LIBRARY_PATH="$DEPS/ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # multiarch headers (lua5.4-deb-multiarch.h) and headers a .pc leaves to the
  # default search path (zlib.h)
  export CPATH="${CPATH:+$CPATH:}$DEPS/usr/include/x86_64-linux-gnu:$DEPS/usr/include"
  command -v pkg-config >/dev/null 2>&1 || export PATH="$DEPS/usr/bin:$PATH"
  DEP_ARGS=(-DCLPT_OPENBLAS="$lib/openblas-openmp/libopenblas.so"
            -DCLPT_CBLAS_INCLUDE="$DEPS/usr/include/x86_64-linux-gnu/openblas-openmp"
            -DCMAKE_PREFIX_PATH="$DEPS/usr")
  note "deps: using the carried packages under $DEPS (loader gets: $(ls "$DEPS/ld" | tr '\n' ' '))"
}

# cuDNN for the cudnn attention: the toolkit's, else the one PyTorch's wheel
# (nvidia-cudnn-cu13) installed; its lib/ goes on the loader path
find_cudnn() {
  CUDNN_ARGS=()
  local d
  d=$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null) || d=""
  if [ -n "$d" ] && [ -f "$d/include/cudnn.h" ]; then
    CUDNN_ARGS=(-DCLPT_CUDNN_INCLUDE="$d/include")
    export LD_LIBRARY_PATH="$d/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    note "cudnn: $d ($(ls "$d"/lib/libcudnn.so* 2>/dev/null | head -1 | xargs -r basename))"
  else
    note "cudnn: no nvidia.cudnn python package; the toolkit's, if any"
  fi
}

# ---- build ------------------------------------------------------------------------
phase_build() {
  DEP_ARGS=()
  if [ -n "${CLPT_DEVICE_FORCE_DEPS:-}" ] || ! have_system_deps; then
    if ls "$ROOT"/build-deps/*.deb >/dev/null 2>&1; then
      use_carried_deps || note "deps: unpacking build-deps failed"
    else
      note "deps: system lacks some (pkg-config inih libcjson lua5.4 zlib openblas-openmp) and no build-deps/ was carried; run 'bench/device.sh fetch-deps' on the dev machine"
    fi
  fi
  local gen=()
  command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
  rm -rf "$BUILD"
  timeout 200 cmake -S "$ROOT" -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCLPT_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES="$ARCH" "${DEP_ARGS[@]}" "${CUDNN_ARGS[@]}" >"$OUT/build.log" 2>&1 &&
    timeout 400 cmake --build "$BUILD" -j"$(nproc)" >>"$OUT/build.log" 2>&1
  BUILD_RC=$?
  # a cuDNN attention that does not compile must not cost the whole run
  if [ $BUILD_RC -ne 0 ] && grep -q "attention_cudnn" "$OUT/build.log"; then
    note "build: failed in the cuDNN attention ($(elapsed) s); again without it"
    mv "$OUT/build.log" "$OUT/build-cudnn.log"
    timeout 200 cmake -S "$ROOT" -B "$BUILD" -DCLPT_CUDNN=OFF >"$OUT/build.log" 2>&1 &&
      timeout 400 cmake --build "$BUILD" -j"$(nproc)" >>"$OUT/build.log" 2>&1
    BUILD_RC=$?
  fi
  if [ $BUILD_RC -eq 0 ] && [ -x "$BUILD/bench/bench_cuda" ]; then
    note "build: ok ($(elapsed) s); $(grep -o 'cuDNN attention o[nf]*' "$OUT/build.log" | head -1)"
  else
    note "build: FAILED (rc $BUILD_RC, $(elapsed) s); see build.log"
    grep -E "error|Error|not found|NOTFOUND" "$OUT/build.log" | head -15
  fi
}

# ---- tests ------------------------------------------------------------------------
phase_test() {
  [ -d "$BUILD" ] || { note "tests: no build"; return; }
  ( cd "$BUILD" && CLPT_TEST_VERBOSE=1 timeout ${CLPT_DEVICE_TEST_TIMEOUT:-300} ctest -L cuda -V --timeout 150 ) \
    >"$OUT/tests.log" 2>&1
  TEST_RC=$?
  note "tests: rc $TEST_RC ($(elapsed) s): $(grep -E 'tests passed|tests failed' "$OUT/tests.log" | tail -1)"
  # a failing op test gets one memcheck pass (a bad index shows there first)
  if grep -qE 'test_cuda_ops .*(Failed|Exception|Timeout)' "$OUT/tests.log"; then
    local t=$BUILD/tests/test_cuda_ops
    echo "== compute-sanitizer memcheck (test_cuda_ops failed)" >>"$OUT/tests.log"
    timeout 90 compute-sanitizer --tool memcheck --print-limit 10 "$t" >>"$OUT/tests.log" 2>&1
    note "memcheck after the failure: rc $? ($(elapsed) s)"
  fi
}

# compute-sanitizer over the op tests: slow, for chasing a crash
phase_sanitize() {
  local t=$BUILD/tests/test_cuda_ops
  [ -x "$t" ] || return
  echo "== compute-sanitizer memcheck" >>"$OUT/tests.log"
  timeout 300 compute-sanitizer --tool memcheck --print-limit 20 "$t" >>"$OUT/tests.log" 2>&1
  note "sanitize: rc $? ($(elapsed) s)"
}

# ---- benchmarks ---------------------------------------------------------------------
# bench NAME LAYERS HEADS EMBD BATCHES [extra bench_cuda options]
bench() {
  local name=$1 L=$2 H=$3 C=$4 batches=$5
  shift 5
  if [ "$(elapsed)" -gt "$BUDGET" ]; then
    note "bench $name $*: skipped (time budget ${BUDGET}s spent)"
    return
  fi
  echo "== $name $*" >>"$OUT/bench.log"
  timeout 120 "$BUILD/bench/bench_cuda" train --name "$name" --layers "$L" --heads "$H" --embd "$C" \
    -T 1024 --batches "$batches" --steps 10 --warmup 2 --eval-steps 10 --max-seconds 20 \
    --peak "$PEAK" --measured "${MEASURED:-0}" "$@" >>"$OUT/bench.log" 2>&1
  note "bench $name $*: rc $? ($(elapsed) s)"
}

phase_bench() {
  local b=$BUILD/bench/bench_cuda
  [ -x "$b" ] || { note "bench: no bench_cuda"; return; }
  echo "== gemm" >>"$OUT/bench.log"
  timeout 60 "$b" gemm --size 8192 --reps 20 >>"$OUT/bench.log" 2>&1
  MEASURED=$(grep 'kind=gemm' "$OUT/bench.log" | sed -n 's/.*tflops=\([0-9.]*\).*/\1/p' | tail -1)
  note "gemm 8192^3 bf16: ${MEASURED:-failed} TFLOP/s ($(elapsed) s)"
  # LayerNorm's kernels alone, element-wise against 16-byte accesses
  if [ -x "$BUILD/bench/ln_micro" ]; then
    timeout 60 "$BUILD/bench/ln_micro" >"$OUT/ln_micro.log" 2>&1
    note "ln_micro: rc $? ($(elapsed) s)"
  fi
  # the attention kernels and activation formats on GPT-2 small at a fixed
  # batch (CLPT_DEVICE_FULL=1 adds simt, wmma, no bias epilogue and tf32,
  # measured before: bench/results/)
  if [ -n "${CLPT_DEVICE_FULL:-}" ]; then
    bench gpt2 12 12 768 16 --act fp32 --gelu-fusion 0 --gemm bf16 --lt 1 --attn simt
    bench gpt2 12 12 768 16 --act fp32 --gelu-fusion 0 --gemm bf16 --lt 1 --attn wmma
    bench gpt2 12 12 768 16 --act fp32 --gelu-fusion 0 --gemm bf16 --lt 0 --attn mma
    bench gpt2 12 12 768 16 --act fp32 --gelu-fusion 0 --gemm tf32 --lt 1 --attn mma
  fi
  # fp32 activations (bf16 GEMM operands converted from them), then the
  # defaults: bf16 activations, cudnn attention (mma where cuDNN is
  # missing), GELU in cuBLASLt's epilogues, the classifier's logit rows
  # read once from shared memory
  bench gpt2 12 12 768 16 --act fp32 --gelu-fusion 0 --gemm bf16 --lt 1 --attn mma
  bench gpt2 12 12 768 16 --act bf16 --lt 1 --attn auto --gelu-fusion 1
  # the largest batch that fits, per size, with the attention, activation
  # format and GELU fusion chosen (CLPT_BENCH_ATTN, CLPT_BENCH_ACT,
  # CLPT_BENCH_GELU; by default clpt's defaults: auto, bf16, 1): the goals
  local attn=${CLPT_BENCH_ATTN:-auto} act=${CLPT_BENCH_ACT:-bf16} gelu=${CLPT_BENCH_GELU:-1}
  bench gpt2 12 12 768 64,48,32,24,16,8 --gemm bf16 --attn "$attn" --act "$act" --gelu-fusion "$gelu"
  if [ "$act" != bf16 ]; then
    bench gpt2 12 12 768 64,48,32,24,16,8 --attn "$attn" --act bf16
    bench gpt2-xl 48 25 1600 24,16,12,8,6,4,2,1 --attn "$attn" --act bf16
  fi
  if [ -z "${CLPT_DEVICE_QUICK:-}" ]; then
    bench gpt2-medium 24 16 1024 48,32,24,16,8,4 --gemm bf16 --attn "$attn" --act "$act" --gelu-fusion "$gelu"
    bench gpt2-large 36 20 1280 32,24,16,12,8,4,2 --gemm bf16 --attn "$attn" --act "$act" --gelu-fusion "$gelu"
    bench gpt2-xl 48 25 1600 24,16,12,8,6,4,2,1 --gemm bf16 --attn "$attn" --act "$act" --gelu-fusion "$gelu"
  fi
  # then each default undone, at B = 16
  bench gpt2 12 12 768 16 --act bf16 --lt 1 --attn mma --gelu-fusion 1
  bench gpt2 12 12 768 16 --act bf16 --lt 1 --attn auto --gelu-fusion 0
  bench gpt2 12 12 768 16 --act bf16 --lt 1 --attn auto --gelu-fusion 1 --xent-cache 0
  # bf16 logits in training and LayerNorm backward in one kernel (neither
  # the default yet), each at B = 16 and 64, then both at B = 64
  bench gpt2 12 12 768 16 --act bf16 --lt 1 --attn auto --gelu-fusion 1 --logits bf16
  bench gpt2 12 12 768 64 --act bf16 --lt 1 --attn auto --gelu-fusion 1 --logits bf16
  bench gpt2 12 12 768 16 --act bf16 --lt 1 --attn auto --gelu-fusion 1 --ln-fused 1
  bench gpt2 12 12 768 64 --act bf16 --lt 1 --attn auto --gelu-fusion 1 --ln-fused 1
  bench gpt2 12 12 768 64 --act bf16 --lt 1 --attn auto --gelu-fusion 1 --ln-fused 1 --logits bf16
}

# the whole test suite with the GPU visible, so `runtime.backend = auto`
# (the default) picks it: every CLI and script test then trains on the GPU
phase_suite() {
  [ -d "$BUILD" ] || { note "suite: no build"; return; }
  ( cd "$BUILD" && timeout 200 ctest -LE cuda -j"$(nproc)" --output-on-failure --timeout 150 ) \
    >"$OUT/suite.log" 2>&1
  note "suite (auto = cuda): rc $? ($(elapsed) s): $(grep -E 'tests passed|tests failed' "$OUT/suite.log" | tail -1)"
}

# The quickstart experiment (lua/examples/quickstart.lua) trained on the GPU,
# timed, its cells set beside a CPU run of it. Needs the prepared corpus at
# data/quickstart and, for the comparison, the CPU run's journals at
# runs/quickstart-ref/*/journal.jsonl, both carried with the tree (the GPU
# machine cannot download the corpus); bench/device.sh pack-e2e DIR puts
# them into DIR here.
phase_e2e() {
  local data=$ROOT/data/quickstart ref=$ROOT/runs/quickstart-ref act
  [ -f "$data/manifest.json" ] || { note "e2e: no data/quickstart carried (bench/device.sh pack-e2e)"; return; }
  [ -x "$BUILD/clpt" ] || { note "e2e: no build"; return; }
  # fp32 activations with mma attention, then bf16 activations with cudnn
  # (mma where cuDNN is missing), then those with bf16 logits in training
  # (bf16-logits), each against the CPU's cells
  local variant
  for variant in ${CLPT_E2E_ACTS:-fp32 bf16 bf16-logits}; do
    local act=${variant%%-*} logits=fp32
    [ "$variant" = bf16-logits ] && logits=bf16
    local out=/tmp/clpt-e2e-$variant t0=$SECONDS attn=mma
    [ "$act" = bf16 ] && attn=cudnn
    rm -rf "$out"
    # the CPU run's base model, where carried (pack-e2e): the cells then
    # differ only by what the GPU does to the domain training
    [ -d "$ROOT/runs/quickstart-base" ] && mkdir -p "$out" && cp -r "$ROOT/runs/quickstart-base" "$out/base"
    ( cd "$ROOT" && CLPT_CUDA_ACT=$act CLPT_CUDA_ATTN=$attn CLPT_CUDA_LOGITS=$logits \
        CLPT_QUICKSTART_BACKEND=${CLPT_E2E_BACKEND:-cuda} \
        timeout 300 "$BUILD/clpt" run lua/examples/quickstart.lua "$data" "$out" ) >"$OUT/e2e-$variant.log" 2>&1
    local rc=$?
    note "e2e quickstart on ${CLPT_E2E_BACKEND:-cuda}, $act activations, $attn attention, $logits logits: rc $rc ($((SECONDS - t0)) s; $(grep -c '"event": *"eval"' "$out"/*/journal.jsonl 2>/dev/null | awk -F: '{s+=$2} END {print s+0}') cells)"
    if [ -d "$ref" ] && command -v python3 >/dev/null; then
      note "e2e $variant vs the CPU run: $(python3 "$ROOT/bench/compare_cells.py" "$ref" "$out" 2>&1 | tail -1)"
    fi
  done
}

# per-op time of GPT-2 124M (B = 16 and 64) and 1.5B steps (bench_cuda --profile), into profile.log
phase_profile() {
  local b=$BUILD/bench/bench_cuda
  [ -x "$b" ] || { note "profile: no bench_cuda"; return; }
  local attn=${CLPT_BENCH_ATTN:-auto} act=${CLPT_BENCH_ACT:-bf16} gelu=${CLPT_BENCH_GELU:-1}
  local small=(--layers 12 --heads 12 --embd 768 -T 1024 --batches 16 --steps 3 --warmup 2 --eval-steps 3)
  timeout 90 "$b" train --name gpt2 "${small[@]}" --attn "$attn" --act "$act" --gelu-fusion "$gelu" \
    --profile 1 >"$OUT/profile.log" 2>&1
  note "profile gpt2 ($act activations, $attn attention, GELU fusion $gelu): rc $? ($(elapsed) s)"
  # B = 64: llm.c's per-GPU batch, the configuration its 471K tok/s is for
  timeout 120 "$b" train --name gpt2-b64 --layers 12 --heads 12 --embd 768 -T 1024 --batches 64 --steps 2 \
    --warmup 1 --eval-steps 2 --attn "$attn" --act "$act" --gelu-fusion "$gelu" --profile 1 >>"$OUT/profile.log" 2>&1
  note "profile gpt2 at B = 64: rc $? ($(elapsed) s)"
  [ -n "${CLPT_DEVICE_QUICK:-}" ] && return
  timeout 120 "$b" train --name gpt2-xl --layers 48 --heads 25 --embd 1600 -T 1024 --batches 8 --steps 2 \
    --warmup 1 --eval-steps 2 --attn "$attn" --act "$act" --gelu-fusion "$gelu" --profile 1 >>"$OUT/profile.log" 2>&1
  note "profile gpt2-xl: rc $? ($(elapsed) s)"
}

# the PyTorch baseline on the same card (bench/bench_torch_gpu.py): GPT-2
# 124M at B = 16, eager and torch.compile'd
phase_torch() {
  command -v python3 >/dev/null || { note "torch: no python3"; return; }
  local extra
  for extra in "" "--compile"; do
    if [ "$(elapsed)" -gt "$BUDGET" ]; then note "torch $extra: skipped (time budget)"; return; fi
    echo "== torch gpt2 $extra" >>"$OUT/bench.log"
    timeout 240 python3 "$ROOT/bench/bench_torch_gpu.py" --name gpt2 -B 16 -T 1024 $extra >>"$OUT/bench.log" 2>&1
    note "torch gpt2 B=16 ${extra:-eager}: rc $? ($(elapsed) s): $(grep '^RESULT kind=torch' "$OUT/bench.log" | tail -1 | tr ' ' '\n' | grep -E '^(train_tps|eval_tps)=' | tr '\n' ' ')"
  done
}

# ---- summary ------------------------------------------------------------------------
# The goals of the CUDA backend against the rows above: GPT-2 124M's best
# training rate against llm.c's 471K tok/s per H100; each larger size's best
# share of the measured GEMM rate against 50%; evaluation against 3x
# training; GPT-2 XL fitting with AdamW (the bench trains with it)
goals() {
  grep -q '^RESULT kind=train' "$OUT/bench.log" 2>/dev/null || return
  echo
  echo "## Goals"
  echo
  grep '^RESULT kind=train' "$OUT/bench.log" | grep -v ' status=' | awk '
    { delete f; for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
    { n = f["name"]; tps = f["train_tps"] + 0; mfu = f["mfu_measured"] + 0; er = f["eval_ratio"] + 0 }
    { cfg = sprintf("B = %s, %s activations, %s attention, %s logits%s", f["B"], f["act"], f["attn"], f["logits"],
                    f["lnf"] == "1" ? ", fused LayerNorm backward" : "") }
    n == "gpt2" && tps > best { best = tps; bestcfg = cfg }
    n != "gpt2" && mfu > 0 && (!(n in share) || mfu > share[n]) { share[n] = mfu; sharecfg[n] = cfg }
    n ~ /xl/ { xlgb[n] = f["peak_gb"] " GB at B = " f["B"] }
    er > 0 && (minr == "" || er < minr) { minr = er; minname = n " at B = " f["B"] }
    END {
      if (best > 0)
        printf "- 124M training: %d tok/s (%s) = %.2f of llm.c'"'"'s 471,000 per H100: %s\n", best, bestcfg, best / 471000, (best >= 471000 ? "met" : "not met")
      for (n in share)
        printf "- %s: %.1f%% of the measured GEMM rate (%s): %s\n", n, share[n], sharecfg[n], (share[n] >= 50 ? "met" : "not met")
      for (n in xlgb) printf "- %s trains with AdamW: %s (backend peak)\n", n, xlgb[n]
      if (minr != "") printf "- evaluation: at least %.2f x training (lowest: %s): %s\n", minr, minname, (minr >= 3 ? "met" : "not met")
    }'
}

# the LN backward column: lnf=1 one kernel, lnf=0 three, absent (older logs) blank
lnb() { case "$1" in 1) echo fused ;; 0) echo "3 kernels" ;; esac; }

write_summary() {
  {
    echo "# clpt cuda backend on $GPU_NAME"
    echo
    echo "$(date -u +%F), commit $(git -C "$ROOT" log --oneline -1 2>/dev/null | cut -c1-60), sm_$ARCH," \
      "total $(elapsed) s. Datasheet dense bf16 peak: $PEAK TFLOP/s; measured cuBLASLt bf16" \
      "GEMM (8192^3): ${MEASURED:-n/a} TFLOP/s."
    echo
    echo "## Steps"
    echo
    sed 's/^/- /' "$OUT/steps.txt"
    echo
    echo "## Tests (ctest -L cuda)"
    echo
    echo '```'
    grep -E "Test +#|tests passed|tests failed|CHECK failed|FAIL" "$OUT/tests.log" 2>/dev/null | head -60
    echo '```'
    echo
    echo "## Training and evaluation throughput (T = 1024)"
    echo
    echo "FLOPs/token = 6N + 6LCT (training), a third for evaluation. MFU against the datasheet peak" \
      "and against the measured GEMM rate. peak GB: memory the backend allocated; used GB: the" \
      "whole device (context and cuBLAS included)."
    echo
    echo "| model | params | activations | GEMM | Lt | GELU fused | attention | logit rows | logits | LN backward | B | train tok/s | ms/step | TFLOP/s | MFU peak | MFU measured | eval tok/s | eval/train | peak GB | used GB |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    grep '^RESULT kind=train' "$OUT/bench.log" | while read -r line; do
      v() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }
      if [ -n "$(v status)" ]; then
        echo "| $(v name) | | | | | | | | | | $(v status) | | | | | | | | | |"
      else
        echo "| $(v name) | $(v params) | $(v act) | $(v gemm) | $(v lt) | $(v gelu) | $(v attn) | $(v xent) | $(v logits) | $(lnb "$(v lnf)") | $(v B) | $(v train_tps) | $(v train_ms) | $(v tflops) | $(v mfu_peak)% | $(v mfu_measured)% | $(v eval_tps) | $(v eval_ratio) | $(v peak_gb) | $(v dev_used_gb) |"
      fi
    done
    goals
    if grep -q '^RESULT kind=torch' "$OUT/bench.log" 2>/dev/null; then
      local ours
      ours=$(grep '^RESULT kind=train name=gpt2 ' "$OUT/bench.log" | grep ' B=16 ' | grep ' act=fp32 gemm=bf16 lt=1 gelu=0 attn=mma ' |
        head -1 | tr ' ' '\n' | sed -n 's/^train_tps=//p')
      ours16=$(grep '^RESULT kind=train name=gpt2 ' "$OUT/bench.log" | grep ' B=16 ' | grep ' act=bf16 gemm=bf16 lt=1 gelu=1 attn=cudnn ' |
        head -1 | tr ' ' '\n' | sed -n 's/^train_tps=//p')
      echo
      echo "## PyTorch on the same card (bench/bench_torch_gpu.py: bf16 autocast, SDPA, fused AdamW)"
      echo
      echo "| model | torch | compile | B | train tok/s | eval tok/s | peak GB | clpt (fp32 activations, mma, B=16) / torch, training | clpt's defaults (bf16 activations, cudnn, GELU fused) / torch |"
      echo "|---|---|---|---|---|---|---|---|---|"
      grep '^RESULT kind=torch' "$OUT/bench.log" | while read -r line; do
        v() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }
        r=$(awk -v a="${ours:-0}" -v b="$(v train_tps)" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }')
        r16=$(awk -v a="${ours16:-0}" -v b="$(v train_tps)" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }')
        echo "| $(v name) | $(v torch) | $(v compile) | $(v B) | $(v train_tps) | $(v eval_tps) | $(v peak_gb) | $r | $r16 |"
      done
    fi
    if [ -s "$OUT/profile.log" ]; then
      echo
      echo "## Time per op (bench_cuda --profile 1; each op synchronised on its own)"
      echo
      echo '```'
      grep '^PROFILE' "$OUT/profile.log" | sed 's/^PROFILE //'
      echo '```'
    fi
    if [ -s "$OUT/ln_micro.log" ]; then
      echo
      echo "## LayerNorm kernels alone (bench/ln_micro.cu, 50 launches each)"
      echo
      echo '```'
      cat "$OUT/ln_micro.log"
      echo '```'
    fi
    echo
    echo "Raw output: bench.log; build: build.log; tests: tests.log; device: gpu.txt."
  } >"$SUMMARY"
}

PHASES=("$@")
[ ${#PHASES[@]} -eq 0 ] && PHASES=(build test bench)
gpu_info
find_cudnn
# without the build phase, a build from an earlier command (CLPT_DEVICE_BUILD)
# runs: the carried libraries it was linked against go back on the loader path
if [[ " ${PHASES[*]} " != *" build "* ]] && [ -d "$DEPS/ld" ]; then
  export LD_LIBRARY_PATH="$DEPS/ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  note "deps: the carried packages under $DEPS, from an earlier build"
fi
MEASURED=""
for p in "${PHASES[@]}"; do
  case "$p" in
    build) phase_build ;;
    test) phase_test ;;
    sanitize) phase_sanitize ;;
    bench) phase_bench ;;
    profile) phase_profile ;;
    suite) phase_suite ;;
    e2e) phase_e2e ;;
    torch) phase_torch ;;
    summary) ;;
    *) note "unknown phase $p (build, test, suite, e2e, torch, sanitize, bench, profile, summary, fetch-deps, pack-e2e)" ;;
  esac
done
write_summary
rm -f "$OUT/steps.txt"
cat "$SUMMARY"
