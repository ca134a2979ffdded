#!/usr/bin/env bash
# Verification of large outputs: `kopt eval --time none` of a workload against an
# identical copy, for swish over 8 M and 32 M float32 elements (32 and 128 MB per
# tensor). Prints wall time, the verification phases and the page faults of kopt and
# its workers.  Usage: benchmarks/verify_large.sh [cpu|cuda] [names]   (KOPT, OUT)
set -uo pipefail
cd "$(dirname "$0")/.."
. benchmarks/lib.sh
device=${1:-cpu}
shift || true
KOPT=${KOPT:-./build/kopt}
OUT=${OUT:-verify-logs}
mkdir -p "$OUT"
py=$(bench_python)
W=$OUT/workloads
"$py" benchmarks/timing/make_workloads.py "$W" >/dev/null
for n in ${*:-swish_8m swish_32m}; do
  start=$(date +%s%N)
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%R" -o "$OUT/faults_$n" "$KOPT" -q eval "$W/$n.py" "$W/${n}_self.py" --device "$device" \
      --time none --json >"$OUT/verify_$n.json" 2>"$OUT/verify_$n.err"
  else
    "$KOPT" -q eval "$W/$n.py" "$W/${n}_self.py" --device "$device" --time none --json \
      >"$OUT/verify_$n.json" 2>"$OUT/verify_$n.err"
    echo "" >"$OUT/faults_$n"
  fi
  wall=$(( ($(date +%s%N) - start) / 1000000 ))
  "$py" -c '
import json, sys
d = json.load(open(sys.argv[1])); p = d.get("phase_seconds", {})
faults = open(sys.argv[3]).read().strip()
print(json.dumps({"workload": sys.argv[2], "outcome": d["outcome"], "wall_s": round(int(sys.argv[4]) / 1000, 1),
  "trials_s": round(p.get("trials", 0), 1), "reference_compute_s": round(p.get("reference_compute", 0), 1),
  "candidate_compute_s": round(p.get("candidate_compute", 0), 1),
  "page_faults": int(faults) if faults.isdigit() else None}))
' "$OUT/verify_$n.json" "$n" "$OUT/faults_$n" "$wall" | tee -a "$OUT/verify.jsonl"
done
