#!/usr/bin/env bash
# Measures kopt eval's own overhead: wall time beyond the candidate's compute.
#   benchmarks/eval_overhead.sh [KOPT_BINARY] [cpu|cuda] [REPEATS]
# For each workload it runs `kopt eval --json` REPEATS times and prints the median of:
# total wall time, the fixed start-up (workers, torch import, reference init), the
# candidate's own compute (sum of its forward calls, timed inside the worker), and the
# the reference's compute (its fp32 and fp64 runs, which verification needs), and the
# overhead = total - candidate compute. 10 trials per eval (6 ordinary + 4 stress).
set -euo pipefail
cd "$(dirname "$0")/.."
KOPT=${1:-build/kopt}
DEVICE=${2:-cpu}
REPEATS=${3:-3}
source benchmarks/lib.sh
PY=$(bench_python)

MATMUL=1024
[[ "$DEVICE" == cuda ]] && MATMUL=2048
cases=(
  "tests/cases/w_elementwise.py tests/cases/c_elementwise_honest.py elementwise_64x1000"
  "examples/linear_gelu.py examples/linear_gelu_candidate.py linear_gelu_128x512x256"
  "benchmarks/workloads/matmul_$MATMUL.py benchmarks/workloads/matmul_2048_candidate.py matmul_$MATMUL"
)
printf '%-26s %6s %8s %9s %8s %10s %10s %10s\n' workload device total_s startup_s trials_s cand_comp_s ref_comp_s overhead_s
for c in "${cases[@]}"; do
  read -r w cand name <<<"$c"
  results=()
  for ((i = 0; i < REPEATS; i++)); do
    json=$("$KOPT" -q eval "$w" "$cand" --device "$DEVICE" --json --python "$PY")
    results+=("$json")
  done
  printf '%s\n' "${results[@]}" | "$PY" -c "$BENCH_READ_DOCS"'
import statistics
assert all(d["outcome"] == "correct" for d in docs), [d["reason"] for d in docs]
def med(key): return statistics.median(d["phase_seconds"].get(key, 0.0) for d in docs)
total = med("total")
startup = statistics.median(d["phase_seconds"].get("reference_start", 0) + d["phase_seconds"].get("candidate_import", 0) + d["phase_seconds"].get("candidate_init", 0) for d in docs)
comp = med("candidate_compute")
ref = med("reference_compute")
print("%-26s %6s %8.2f %9.2f %8.2f %10.4f %10.4f %10.2f" % (sys.argv[1], sys.argv[2], total, startup, med("trials"), comp, ref, total - comp))
' "$name" "$DEVICE"
done
