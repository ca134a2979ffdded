#!/usr/bin/env bash
# kopt optimize with the builtin provider over examples/ (issue 6's GPU benchmark): best
# baseline, best candidate and speedup per workload, candidates per minute, GPU idle
# share while candidates waited.  Usage: benchmarks/optimize_suite.sh [cuda|cpu] [examples...]
set -uo pipefail
cd "$(dirname "$0")/.."
device=${1:-cuda}
shift || true
KOPT=${KOPT:-./build-gpu/kopt}
OUT=${OUT:-optimize-logs}
mkdir -p "$OUT"
workloads=${*:-examples/}
start=$(date +%s)
# JOBS caps candidates verified at once (default: cores): beside other GPU lanes on one
# host, 64 torch.compile builds at once starve their timing of CPU.
"$KOPT" -q optimize $workloads --device "$device" -n 6 --max-candidates ${MAX_CANDIDATES:-8} --patience 0 ${JOBS:+-j $JOBS} \
  --final-top ${FINAL_TOP:-2} --out "$OUT/run" --json >"$OUT/optimize.json" 2>"$OUT/optimize.err"
echo "optimize exit $? in $(( $(date +%s) - start )) s"
python3 - "$OUT/optimize.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
runs = d.get("runs") or [d]
for r in runs:
    b, best = r.get("baselines") or {}, r.get("best") or {}
    print(f'{r["workload"].split("/")[-1]:18} baseline {b.get("best")} {b.get("best_ms", 0):.4f} ms | '
          f'best {best.get("strategy")} {best.get("median_ms")} ms speedup {best.get("speedup")} '
          f'[{best.get("low")}, {best.get("high")}] faster={best.get("faster")} | '
          f'{r.get("evaluated_per_minute")} cand/min, GPU idle {r.get("gpu_idle_share")} | {r.get("counts")}')
if "suite" in d:
    print("suite:", d["suite"].get("geomean_speedup"), d["suite"].get("fast_p"))
PY
