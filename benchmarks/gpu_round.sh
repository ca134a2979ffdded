#!/usr/bin/env bash
# One call of the device tool: build (or unpack a carried build), then the GPU steps
# named, each under its own time limit, every log into one tarball under $OUT (the
# device tool returns at most 8 files).  Steps, in the order docs/benchmarks.md gives:
#   side      the side-stream tamper test           tests   all timing tests (16)
#   verify    large-output verification             fused   the honest fused kernel
#   null      null test over workloads              repeat  kopt baseline three times
#   agree     kopt baseline against do_bench        optimize builtin over examples
#   files     a files-provider round
#   diag      kopt eval -v --time none with every worker's stack sampled (timing/sampler)
#   ncu       kopt baseline --ncu (swish 8 M) and kopt eval --ncu (the fused kernel)
#   warmth    is a batch after idle time slower, and what warms it (timing/warmth.py), on
#             =NAME/N[/fused]+... (default: swish 32 M's fused kernel and eager, 4 calls)
#   nvml      does an NVML query slow the next batch (timing/nvml_effect.py), on matmul 1024
#             and swish 8 M, or on =NAME/N+...
#   variants  timing variants (variants.py) on matmul 1024, swish 8 M and a side-stream case,
#             or on =NAME/N[/fused]+...: workload NAME, N calls a batch, its fused candidate
# STEP@keep runs the step with KOPT_TIMING_KEEP_ALL=1 (every model keeps its timed outputs),
# STEP@hold with KOPT_TIMING_HOLD_US=$HOLD_US (3000), STEP@wake with KOPT_TIMING_WAKE_US=$WAKE_US
# (300), STEP@gc with KOPT_TIMING_GC=1,
# STEP@nonvml with KOPT_TIMING_NVML=0, STEP@adjacent with KOPT_TIMING_NVML=adjacent (NVML asked
# right before each batch, as before the sixth session), STEP@head with KOPT_TIMING_HEAD_US=$HEAD_US
# (200), STEP@big with KOPT_TIMING_INPUT_MB=4096, STEP@headbig with both, STEP@reuse with KOPT_TIMING_REUSE_INPUTS=1,
# STEP@batch with KOPT_TIMING_BATCH_MS=$BATCH_MS (6), STEP@glibc
# with the heap settings kopt gives its workers (for variants).
# Usage: benchmarks/gpu_round.sh LANE ...   LANE: STEP[,STEP...]   STEP: NAME[=A+B...][:SECONDS]
#   e.g. gpu_round.sh side:90,fused:240 null=swish_2m+matmul_1024:300
# The =A+B part names the workloads (null, repeat, agree) or example files (optimize).
# One lane runs its steps in order; several lanes run at once, lane i on GPU i alone
# (CUDA_VISIBLE_DEVICES) with its own workload folder, so a machine of several GPUs
# runs several benchmarks in one call. A step past its limit is killed and the next one
# runs; each prints its elapsed time. The call ends with timing/round_summary.py: one
# line per result against issue 12's goals.
# A carried build is the code it was built from (the harness is embedded): after a
# change to src/, delete .gpubin so the round builds again.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 W=${W:-/tmp/kopt-w}
logs=${LOGS:-/tmp/kopt-gpu-round}
rm -rf "$logs"  # a machine lent again may still hold an earlier call's logs
mkdir -p "$logs"
for lane in "$@"; do
  IFS=, read -ra steps <<<"$lane"
  for arg in "${steps[@]}"; do
    name=${arg%%:*}; name=${name%%=*}; name=${name%@*}
    case $name in side|tests|verify|fused|null|repeat|agree|optimize|files|variants|diag|ncu|nvml|warmth) ;; *) echo "unknown step $name" >&2; exit 2 ;; esac
  done
done
start=$(date +%s)
say() { echo "[$(( $(date +%s) - start )) s] $*"; }
if [ -f .gpubin/bin.tgz ]; then
  tar xzf .gpubin/bin.tgz && say "unpacked build-gpu from .gpubin"
else
  OUT=$logs/build timeout 240 benchmarks/timing_suite.sh build || { say "build failed"; tar czf "${OUT:-.}/round.tgz" -C "$logs" .; exit 1; }
  strip build-gpu/kopt build-gpu/tests/kopt_integration_tests 2>/dev/null
  tar czf "${OUT:-.}/bin.tgz" build-gpu/kopt build-gpu/tests/kopt_integration_tests
  say "built; ${OUT:-.}/bin.tgz is the build to carry next time as .gpubin/bin.tgz"
fi
run_step() {  # run_step LOGDIR STEP[=ARGS][:SECONDS]
  local dir=$1 arg=$2 limit step args
  limit=${arg##*:}; [ "$limit" = "$arg" ] && limit=300
  step=${arg%%:*}; args=; [ "${step#*=}" != "$step" ] && args=${step#*=}; step=${step%%=*}
  args=${args//+/ }
  local diag=()  # STEP@keep, @hold, @gc: kopt's timing diagnostics (docs/measurement.md)
  case $step in
  *@keep) diag=(KOPT_TIMING_KEEP_ALL=1) ;;
  *@hold) diag=(KOPT_TIMING_HOLD_US=${HOLD_US:-3000}) ;;
  *@wake) diag=(KOPT_TIMING_WAKE_US=${WAKE_US:-300}) ;;
  *@gc) diag=(KOPT_TIMING_GC=1) ;;
  *@nonvml) diag=(KOPT_TIMING_NVML=0) ;;
  *@adjacent) diag=(KOPT_TIMING_NVML=adjacent) ;;
  *@head) diag=(KOPT_TIMING_HEAD_US=${HEAD_US:-200}) ;;
  *@big) diag=(KOPT_TIMING_INPUT_MB=4096) ;;
  *@headbig) diag=(KOPT_TIMING_HEAD_US=${HEAD_US:-200} KOPT_TIMING_INPUT_MB=4096) ;;
  *@reuse) diag=(KOPT_TIMING_REUSE_INPUTS=1) ;;
  *@batch) diag=(KOPT_TIMING_BATCH_MS=${BATCH_MS:-6}) ;;
  *@glibc) diag=(GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1073741824) ;;  # a worker's
  esac
  [ "${step%@*}" != "$step" ] && { dir=$dir/${step#*@}; step=${step%@*}; }
  case $step in
  side) cmd=(env FILTER='timing_gpu.work_hidden*' OUT="$dir/side" benchmarks/timing_suite.sh tests) ;;
  tests) cmd=(env OUT="$dir/tests" benchmarks/timing_suite.sh tests) ;;
  verify) cmd=(env KOPT=./build-gpu/kopt OUT="$dir/verify" benchmarks/verify_large.sh cuda) ;;
  fused) cmd=(env OUT="$dir/fused" benchmarks/timing_suite.sh fused) ;;
  null) cmd=(env OUT="$dir/null" benchmarks/timing_suite.sh null ${args:-swish_2m swish_32m matmul_1024 softmax_8k}) ;;
  repeat) cmd=(env OUT="$dir/repeat" benchmarks/timing_suite.sh repeat ${args:-swish_8m matmul_4096}) ;;
  agree) cmd=(env OUT="$dir/agree" benchmarks/timing_suite.sh agree ${args:-matmul_1024 swish_8m}) ;;
  optimize) cmd=(env OUT="$dir/optimize" MAX_CANDIDATES=6 FINAL_TOP=1 benchmarks/optimize_suite.sh cuda
                 ${args:-examples/layernorm.py examples/conv_bn_relu.py}) ;;
  files) cmd=(env OUT="$dir/files" benchmarks/files_round.sh cuda) ;;
  diag) cmd=(env PYTHONPATH="$PWD/benchmarks/timing/sampler" KOPT_SAMPLE_DIR="$dir/diag/samples" bash -c '
                 mkdir -p "$0"; python3 benchmarks/timing/make_workloads.py "$W" >/dev/null
                 for n in $1; do ./build-gpu/kopt -v eval "$W/$n.py" "$W/${n}_self.py" --device cuda --time none --json \
                   >"$0/$n.json" 2> >(python3 -u -c "import sys, time
for l in sys.stdin: print(\"%.2f\" % time.time(), l, end=\"\", flush=True)" >"$0/$n.err"); done' "$dir/diag" "${args:-swish_8m}") ;;
  ncu) cmd=(env DIR="$dir/ncu" bash -c 'mkdir -p "$DIR"; python3 benchmarks/timing/make_workloads.py "$W" >/dev/null
              ./build-gpu/kopt baseline "$W/swish_8m.py" --device cuda --compile-modes none --ncu >"$DIR/baseline.txt" 2>"$DIR/baseline.err"
              echo "baseline exit $?"; grep -A4 "^ncu" "$DIR/baseline.txt"
              ./build-gpu/kopt eval "$W/swish_32m.py" "$W/swish_32m_fused.py" --device cuda --time none --ncu >"$DIR/eval.txt" 2>"$DIR/eval.err"
              echo "eval exit $?"; grep -A4 "^ncu" "$DIR/eval.txt"') ;;
  nvml) cmd=(env DIR="$dir/nvml" bash -c 'mkdir -p "$DIR"; python3 benchmarks/timing/make_workloads.py "$W" >/dev/null
              for a in "$@"; do IFS=/ read -r n c <<<"$a"; python3 benchmarks/timing/nvml_effect.py "$W/$n.py" "$c"; done \
                | tee "$DIR/nvml.jsonl"' nvml ${args:-matmul_1024/28 swish_8m/16}) ;;
  warmth) cmd=(env DIR="$dir/warmth" bash -c 'mkdir -p "$DIR"; python3 benchmarks/timing/make_workloads.py "$W" >/dev/null
              for a in "$@"; do IFS=/ read -r n c f <<<"$a"; python3 benchmarks/timing/warmth.py "$W/$n.py" "$c" ${f:+"$W/${n}_fused.py"}; done \
                | tee "$DIR/warmth.jsonl"' warmth ${args:-swish_32m/4/fused swish_32m/4}) ;;
  variants) cmd=(env DIR="$dir/variants" bash -c 'mkdir -p "$DIR"; v=benchmarks/timing/variants.py
                   python3 benchmarks/timing/make_workloads.py "$W" >/dev/null
                   if [ $# -gt 0 ]; then  # NAME/N or NAME/N/fused (the candidate $W/NAME_fused.py)
                     for a in "$@"; do IFS=/ read -r n c f <<<"$a"
                       python3 $v "$W/$n.py" "$c" ${f:+"$W/${n}_fused.py"}; done | tee "$DIR/variants.jsonl"; exit; fi
                   { for n in matmul_1024 swish_8m; do python3 $v "$W/$n.py"; done
                     python3 $v tests/cases/w_elementwise.py 0 tests/cases/c_time_side_stream_async.py
                     python3 $v tests/cases/w_elementwise.py; } | tee "$DIR/variants.jsonl"' variants $args) ;;
  esac
  say "$step $args (limit $limit s)"
  env "${diag[@]}" timeout "$limit" "${cmd[@]}"
  say "$step ended with $?"
}
run_lane() {  # run_lane INDEX STEPS
  local i=$1 arg
  IFS=, read -ra steps <<<"$2"
  for arg in "${steps[@]}"; do run_step "$logs/lane$i" "$arg"; done
}
if [ $# -eq 1 ]; then
  run_lane 0 "$1"
else
  i=0
  for lane in "$@"; do
    ( export CUDA_VISIBLE_DEVICES=$i W=$W$i; run_lane $i "$lane" 2>&1 | sed "s/^/[lane $i] /" ) &
    i=$((i + 1))
  done
  wait
fi
python3 benchmarks/timing/round_summary.py "$logs"  # one line per result, against the goals
# Workload copies and candidate builds stay behind; logs, JSON and reports travel.
tar czf "${OUT:-.}/round.tgz" --exclude='workloads' --exclude='*.so' --exclude='build' -C "$logs" .
say "logs in ${OUT:-.}/round.tgz"
