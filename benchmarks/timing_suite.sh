#!/usr/bin/env bash
# On a GPU machine: kopt's timing benchmarks (docs/benchmarks.md, "Timing").
#   benchmarks/timing_suite.sh build      build build-gpu against the local torch
#   benchmarks/timing_suite.sh tests      timing integration tests on the GPU, alone on it
#   benchmarks/timing_suite.sh null [W..] the reference against itself (kopt eval --time claim)
#   benchmarks/timing_suite.sh agree [W..] kopt baseline vs triton's do_bench; 3 repeats of some
#   benchmarks/timing_suite.sh fused      an honest fused kernel: kopt's speedup vs do_bench's ratio
# Results: one JSON document per line in $OUT/*.jsonl (OUT defaults to ./timing-logs).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-timing-logs}
mkdir -p "$OUT"
py=$(command -v python3)
KOPT=${KOPT:-./build-gpu/kopt}
W=${W:-$OUT/workloads}
mode=${1:-all}
# kopt's log lines with the time they came: a step cut off by its limit still shows
# which phase the time went to.
stamp() { "$py" -u -c 'import sys, time
for l in sys.stdin: print("%.2f" % time.time(), l, end="", flush=True)'; }
shift || true
"$py" benchmarks/timing/make_workloads.py "$W" >/dev/null
all_names=$(cd "$W" && ls *.py | grep -v -e _self -e _fused | sed 's/\.py$//')
names=${*:-$all_names}

case $mode in
build)
  prefix=$("$py" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$OUT/gpu.txt"
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$prefix" >"$OUT/cmake.log" 2>&1 \
    || { tail -30 "$OUT/cmake.log"; exit 1; }
  ninja -C build-gpu kopt kopt_integration_tests >"$OUT/build.log" 2>&1 || { grep -B3 -A12 error "$OUT/build.log" | head -60; exit 1; }
  echo "built"
  ;;
tests)
  KOPT_TEST_PYTHON=$py KOPT_TEST_DEVICE=cuda ./build-gpu/tests/kopt_integration_tests --gtest_filter="${FILTER:-timing*}" \
    >"$OUT/timing_tests.log" 2>&1
  rc=$?
  grep -E "^\[ +(OK|FAILED|SKIPPED) +\]" "$OUT/timing_tests.log"
  exit $rc
  ;;
null)
  for n in $names; do
    "$KOPT" eval "$W/$n.py" "$W/${n}_self.py" --device cuda --time claim --compile-modes none --json \
      >"$OUT/null_$n.json" 2> >(stamp >"$OUT/null_$n.err")
    "$py" -c '
import json, sys
d = json.load(open(sys.argv[1])); t = d.get("timing") or {}
s = (t.get("speedup") or {}).get("vs_eager") or {}
print(json.dumps({"workload": sys.argv[2], "outcome": d["outcome"], "eager_ms": (t.get("eager") or {}).get("median_ms"),
  "self_ms": (t.get("candidate") or {}).get("median_ms"), "speedup": s.get("median"), "low": s.get("low"),
  "high": s.get("high"), "faster": s.get("faster"), "null_spread": t.get("null_spread"), "reason": d["reason"][:160],
  "host": {k: ((t.get(k) or {}).get("detail") or {}).get("host") for k in ("eager", "candidate")},
  "presync": {k: ((t.get(k) or {}).get("detail") or {}).get("presync") for k in ("eager", "candidate")}}))
' "$OUT/null_$n.json" "$n" | tee -a "$OUT/null.jsonl"
  done
  ;;
agree)
  for n in $names; do
    db=$("$py" benchmarks/timing/dobench.py "$W/$n.py" 2>>"$OUT/dobench.err" | head -1)
    "$KOPT" -q baseline "$W/$n.py" --device cuda --compile-modes none --json >"$OUT/base_$n.json" 2>"$OUT/base_$n.err"
    "$py" -c '
import json, sys
b = json.load(open(sys.argv[1])); db = json.loads(sys.argv[3]) if sys.argv[3] else {}
k = b["eager"].get("median_ms"); d = db.get("do_bench_ms")
print(json.dumps({"workload": sys.argv[2], "kopt_ms": k, "kopt_iqr_ms": b["eager"].get("iqr_ms"), "do_bench_ms": d,
  "do_bench_runs": db.get("runs"), "kopt_over_do_bench": (k / d) if k and d else None,
  "calls_per_batch": b["eager"].get("calls_per_batch"), "sol_ms": (b.get("sol") or {}).get("seconds", 0) * 1000,
  "presync": (b["eager"].get("detail") or {}).get("presync"), "host": (b["eager"].get("detail") or {}).get("host"),
  "cupti_us": sum(k.get("us_per_call", 0) for k in (b.get("profile") or {}).get("kernels") or []) or None,
  "gpu": b["device"].get("name"), "error": b.get("error")}))
' "$OUT/base_$n.json" "$n" "$db" | tee -a "$OUT/agree.jsonl"
  done
  ;;
repeat)
  for n in $names; do
    for r in $(seq "${RUNS:-3}"); do
      "$KOPT" -q baseline "$W/$n.py" --device cuda --compile-modes none --json >"$OUT/rep_${n}_$r.json" 2>/dev/null
      "$py" -c 'import json,sys; b=json.load(open(sys.argv[1])); print(json.dumps({"workload": sys.argv[2], "run": int(sys.argv[3]), "kopt_ms": b["eager"].get("median_ms"), "presync": {k: v for k, v in ((b["eager"].get("detail") or {}).get("presync") or {}).items() if not isinstance(v, list)}}))' \
        "$OUT/rep_${n}_$r.json" "$n" "$r" | tee -a "$OUT/repeat.jsonl"
    done
  done
  ;;
fused)
  db=$("$py" benchmarks/timing/dobench.py "$W/swish_32m.py" "$W/swish_32m_fused.py" 2>>"$OUT/dobench.err")
  echo "$db" | tee -a "$OUT/fused.jsonl"
  "$KOPT" eval "$W/swish_32m.py" "$W/swish_32m_fused.py" --device cuda --time claim --json >"$OUT/fused.json" \
    2> >(stamp >"$OUT/fused.err")
  "$py" -c '
import json, sys
d = json.load(open(sys.argv[1])); t = d.get("timing") or {}
print(json.dumps({"outcome": d["outcome"], "speedup": t.get("speedup"), "eager_ms": (t.get("eager") or {}).get("median_ms"),
  "compile_ms": (t.get("compile:default") or {}).get("median_ms"), "fused_ms": (t.get("candidate") or {}).get("median_ms"),
  "faster": t.get("faster"), "null_spread": t.get("null_spread"), "reason": d["reason"][:200],
  "host": {k: ((t.get(k) or {}).get("detail") or {}).get("host") for k in ("eager", "compile:default", "candidate")},
  "presync": {k: ((t.get(k) or {}).get("detail") or {}).get("presync") for k in ("eager", "candidate")}}))
' "$OUT/fused.json" | tee -a "$OUT/fused.jsonl"
  ;;
*)
  echo "usage: $0 build|tests|null|agree|repeat|fused [workload names]" >&2
  exit 2
  ;;
esac
