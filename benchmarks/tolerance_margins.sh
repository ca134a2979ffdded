#!/usr/bin/env bash
# How far honest candidates sit below kopt eval's limits, and how far precision
# downgrades sit above them: the margins behind the tolerance constants.
#   benchmarks/tolerance_margins.sh [KOPT_BINARY] [cpu|cuda] [REPEATS]
# Prints, per pair, the worst normwise and elementwise ratio (error / limit) over all
# trials of each run, max over REPEATS runs (fresh seeds each run). < 1 passes.
set -euo pipefail
cd "$(dirname "$0")/.."
KOPT=${1:-build/kopt}
DEVICE=${2:-cpu}
REPEATS=${3:-3}
source benchmarks/lib.sh
PY=$(bench_python)
C=tests/cases
pairs=(
  "honest  w_linear_gelu.py c_gelu_addmm_erf.py"
  "honest  w_sum.py c_sum_fp64.py"
  "honest  w_sum.py c_sum_reordered.py"
  "honest  w_elementwise.py c_elementwise_honest.py"
  "honest  w_matmul.py c_matmul_honest.py"
  "honest  w_batchnorm.py c_batchnorm_honest.py"
  "honest  w_argmax.py c_argmax_honest.py"
  "lowered w_linear_gelu.py c_gelu_bf16.py"
  "lowered w_matmul.py c_matmul_fp16.py"
  "wrong   w_linear_gelu.py c_gelu_one_wrong.py"
)
if [[ "$DEVICE" == cuda ]]; then
  pairs+=("honest  w_elementwise.py c_load_inline_cuda.py" "honest  w_elementwise.py c_torch_compile.py"
          "lowered w_matmul.py c_matmul_tf32.py")
else
  pairs+=("honest  w_elementwise.py c_load_inline_cpu.py")
fi
printf '%-8s %-40s %-9s %10s %10s\n' kind pair verdicts normwise elementwise
for p in "${pairs[@]}"; do
  read -r kind w c <<<"$p"
  docs=()
  for ((i = 0; i < REPEATS; i++)); do
    docs+=("$("$KOPT" -q eval "$C/$w" "$C/$c" --device "$DEVICE" --json --python "$PY" || true)")
  done
  printf '%s\n' "${docs[@]}" | "$PY" -c "$BENCH_READ_DOCS"'
ok = sum(d["outcome"] == "correct" for d in docs)
nw = max((d["errors"]["normwise_ratio"] or 0) for d in docs)
ew = max((d["errors"]["elementwise_ratio"] or 0) for d in docs)
print("%-8s %-40s %4d/%-4d %10.3g %10.3g" % (sys.argv[1], sys.argv[2], ok, len(docs), nw, ew))
' "$kind" "$w ~ $c"
done
