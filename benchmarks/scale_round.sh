#!/usr/bin/env bash
# One call of the device tool for verification at KernelBench scale (issue 26): build kopt
# and the integration tests (or unpack a carried .gpubin/bin.tgz), then the steps named:
#   probe     benchmarks/scale/startup_probe.py: a fresh interpreter's start-up, step by step
#   comparebench  one comparison's time on the GPU at 2^27, 2^29, 2^30 float32 elements
#   bwrapcost the same small kopt eval 3 times with bubblewrap and 3 times without
#   smoke     kopt eval on a small workload, honest and reused-buffer candidates: where the comparison ran
#   scale     benchmarks/scale/run_scale.py (kopt eval, honest and wrong, every workload; SKIP_BASELINE=1)
#   baseline  kopt baseline on every workload of benchmarks/scale
#   tests     the eval integration tests with KOPT_TEST_DEVICE=cuda (TESTS: a gtest filter)
#   optimize  kopt optimize with 8 replayed candidates on the 2 GiB AvgPool1d (benchmarks/scale/avgpool1d_2g_replay)
#   prestartab the optimize run above twice, -j 2 and no final gate: workers prestarted, then --no-prestart
#             (MODES="prestart" or "no-prestart" for one of them; MAXC candidates, OPT_ARGS, OPT_LIMIT)
#   host      run_scale.py with COMPARE=host on NAMES (default attention matmul_chain): the old path
# Usage: benchmarks/scale_round.sh STEP...   Logs go to $OUT (the device tool returns them).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/kopt-scale-out}
mkdir -p "$OUT"
start=$(date +%s)
say() { echo "[$(( $(date +%s) - start )) s] $*"; }
if [ -f .gpubin/bin.tgz ]; then
  tar xzf .gpubin/bin.tgz && say "unpacked build-gpu from .gpubin"
else
  prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  if ! { cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DKOPT_BUILD_TESTS=ON -DCMAKE_PREFIX_PATH="$prefix" &&
         ninja -C build-gpu kopt kopt_integration_tests; } >"$OUT/build.log" 2>&1; then
    say "build failed"; tail -40 "$OUT/build.log"; exit 1
  fi
  strip build-gpu/kopt build-gpu/tests/kopt_integration_tests 2>/dev/null
  tar czf "$OUT/bin.tgz" build-gpu/kopt build-gpu/tests/kopt_integration_tests
  say "built; carry $OUT/bin.tgz as .gpubin/bin.tgz"
fi
K=build-gpu/kopt
# The GPU machine has no bubblewrap package: a carried binary (.gpubin/bwrap, Debian's) is
# used unless NOBWRAP=1. The eval tests' Python is the one with torch.
if [ -x .gpubin/bwrap ] && [ -z "${NOBWRAP:-}" ]; then export KOPT_BWRAP=$PWD/.gpubin/bwrap; fi
export KOPT_TEST_PYTHON=${KOPT_TEST_PYTHON:-$(command -v python3)}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
for step in "$@"; do
  say "step $step"
  case $step in
    smoke)
      for c in c_elementwise_honest c_reused_buffer c_counts_calls c_background_writer c_mutates_input c_side_stream; do
        $K eval tests/cases/w_elementwise.py tests/cases/$c.py --device cuda --time none --json >"$OUT/smoke_$c.json" 2>"$OUT/smoke_$c.err"
        python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[2], d['outcome'], d['check'], d.get('compare'), d['trials'], '|', d['reason'][:200], '|', round(d['phase_seconds']['total'],2), '| isolation:', {k: v['active'] for k, v in d['isolation'].items()})" "$OUT/smoke_$c.json" $c ||
          tail -5 "$OUT/smoke_$c.err"
      done
      python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('filesystem:', d['isolation']['filesystem']['detail'])" "$OUT/smoke_c_elementwise_honest.json"
      $K eval tests/cases/w_elementwise.py tests/cases/c_elementwise_honest.py --device cuda --time rank --json >"$OUT/smoke_rank.json" 2>"$OUT/smoke_rank.err"
      python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('rank', d['outcome'], d['check'], [r for r in d['rules'] if r['id']=='timed_outputs'])" "$OUT/smoke_rank.json" || tail -5 "$OUT/smoke_rank.err"
      ;;
    probe) timeout 120 python3 benchmarks/scale/startup_probe.py ;;
    comparebench) for l in 27 29 30; do python3 benchmarks/scale/compare_bench.py $l cuda; done ;;
    bwrapcost)  # the time bubblewrap adds per candidate: the same eval, 3 times each way
      for mode in bwrap none; do
        for i in 1 2 3; do
          if [ $mode = none ]; then KOPT_BWRAP=/nonexistent $K eval tests/cases/w_elementwise.py tests/cases/c_elementwise_honest.py --device cuda --time none --json >"$OUT/bw.json" 2>/dev/null
          else $K eval tests/cases/w_elementwise.py tests/cases/c_elementwise_honest.py --device cuda --time none --json >"$OUT/bw.json" 2>/dev/null; fi
          python3 -c "import json,sys; d=json.load(open(sys.argv[1])); p=d['phase_seconds']; print(sys.argv[2], d['outcome'], 'network' , d['isolation'].get('network',{}).get('active'), {k: round(p[k],2) for k in ('total','candidate_start','reference_start','candidate_import','trials','teardown') if k in p})" "$OUT/bw.json" $mode
        done
      done ;;
    scale) SKIP_BASELINE=1 timeout 560 python3 benchmarks/scale/run_scale.py $K ${NAMES:-} | tee "$OUT/scale.log" ;;
    host) COMPARE=host SKIP_BASELINE=1 timeout 300 python3 benchmarks/scale/run_scale.py $K ${NAMES:-attention matmul_chain} | tee "$OUT/host.log" ;;
    baseline)
      for w in ${NAMES:-matmul_chain attention convt_chain_1g avgpool1d_2g swish_6g softmax_6g}; do
        /usr/bin/env time -f "%e s, max RSS %M KiB" $K baseline benchmarks/scale/$w.py --device cuda --json >"$OUT/baseline_$w.json" 2>"$OUT/baseline_$w.err"
        echo "$w exit $? $(tail -1 "$OUT/baseline_$w.err")"
      done ;;
    tests)
      # Four shards at once: each test is mostly worker start-up, the GPU has room for all.
      for i in 0 1 2 3; do
        KOPT_TEST_DEVICE=cuda GTEST_TOTAL_SHARDS=4 GTEST_SHARD_INDEX=$i timeout ${TESTS_LIMIT:-330} \
          build-gpu/tests/kopt_integration_tests --gtest_filter="${TESTS:-eval_*}" >"$OUT/tests_$i.log" 2>&1 &
      done
      wait
      cat "$OUT"/tests_*.log | grep -E "^\[  (PASSED|FAILED) |^\[  FAILED|tests ran|Failure|Expected|Which is|actual" | head -60 ;;
    optimize)  # issue 26: >= 8 replayed candidates (one load_inline build) on the 2 GiB AvgPool1d in 10 minutes
      s=$(date +%s)
      timeout ${OPT_LIMIT:-560} $K optimize benchmarks/scale/avgpool1d_2g.py --device cuda --provider replay \
        --from benchmarks/scale/avgpool1d_2g_replay --max-candidates 8 ${OPT_ARGS:-} --out /tmp/run-avgpool 2>&1 |
        grep -v debug | tail -30
      python3 - <<'PY'
import glob, json
for r in sorted(glob.glob('/tmp/run-avgpool/candidates/*/record.json')):
    d = json.load(open(r))
    ph = d.get('phase_seconds') or {}
    print(r.split('/')[-2], d.get('status'), d.get('outcome'), d.get('check'), (d.get('reason') or '')[:90],
          {k: round(v, 1) for k, v in ph.items() if k in ('total', 'candidate_start', 'candidate_import', 'trials', 'compare', 'timing')},
          'claim' if isinstance(d.get('claim'), dict) else '')
PY
      echo "optimize wall $(( $(date +%s) - s )) s"
      $K report /tmp/run-avgpool --format html -o "$OUT/report-avgpool.html" 2>&1 | tail -2
      tar czf "$OUT/run-avgpool.tgz" -C /tmp run-avgpool 2>/dev/null ;;
    prestartab)  # issue 26: the same replayed run with workers prestarted and without (--no-prestart)
      for mode in ${MODES:-prestart no-prestart}; do
        extra=""; [ $mode = no-prestart ] && extra=--no-prestart
        rm -rf /tmp/run-ab; s=$(date +%s)
        timeout ${OPT_LIMIT:-280} $K optimize benchmarks/scale/avgpool1d_2g.py --device cuda --provider replay \
          --from benchmarks/scale/avgpool1d_2g_replay --max-candidates ${MAXC:-8} --final-top 0 ${OPT_ARGS:--j 2} $extra \
          --out /tmp/run-ab 2>&1 | grep -E "candidates:|baselines:|fastest" | head -5
        echo "$mode: optimize wall $(( $(date +%s) - s )) s"
        MODE=$mode python3 - <<'PY'
import glob, json, os
rows = []
for r in sorted(glob.glob('/tmp/run-ab/candidates/*/verify.json')):
    d = json.load(open(r))
    p = d.get('phase_seconds') or {}
    rows.append((r.split('/')[-2], d.get('outcome'), round(p.get('total', 0), 1), round(p.get('prestart_wait', 0), 2),
                 round(p.get('reference_start', 0) + p.get('candidate_start', 0), 1), round(p.get('candidate_import', 0), 1),
                 round(p.get('trials', 0), 1), round(p.get('compare', 0), 1), round(p.get('timing', 0), 1)))
print(os.environ['MODE'], 'id outcome total prestart_wait ref+cand_start import trials compare timing')
for row in rows: print(' ', *row)
PY
      done ;;
    *) echo "unknown step $step" ;;
  esac
done
say done
