#!/usr/bin/env bash
# On a GPU machine: build kopt and run the integration suite with every eval case on the
# GPU (KOPT_TEST_DEVICE=cuda), then the demo. Logs go to $OUT (or ./gpu-logs).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-logs}
mkdir -p "$OUT"
py=$(command -v python3)
prefix=$("$py" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
"$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' | tee -a "$OUT/gpu.txt"
start=$(date +%s)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$prefix" \
  >"$OUT/cmake.log" 2>&1 || { tail -30 "$OUT/cmake.log"; exit 1; }
ninja -C build-gpu >"$OUT/build.log" 2>&1 || { grep -B3 -A12 error "$OUT/build.log" | head -60; exit 1; }
echo "build: $(( $(date +%s) - start )) s"
./build-gpu/kopt eval examples/linear_gelu.py examples/linear_gelu_candidate.py --device cuda --json >"$OUT/demo.json" 2>"$OUT/demo.err"
echo "demo exit $?: $(grep -m1 '"reason"' "$OUT/demo.json")"
start=$(date +%s)
SHARDS=${SHARDS:-8}
pids=()
for ((i = 0; i < SHARDS; i++)); do
  KOPT_TEST_PYTHON=$py KOPT_TEST_DEVICE=cuda GTEST_TOTAL_SHARDS=$SHARDS GTEST_SHARD_INDEX=$i \
    ./build-gpu/tests/kopt_integration_tests ${GTEST_FILTER:+--gtest_filter=$GTEST_FILTER} \
    >"$OUT/shard$i.log" 2>&1 &
  pids+=($!)
done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
cat "$OUT"/shard*.log > "$OUT/integration.log"; rm -f "$OUT"/shard*.log
echo "integration (cuda): exit $rc in $(( $(date +%s) - start )) s"
grep -E "^\[  (FAILED|PASSED|SKIPPED) " "$OUT/integration.log" | sort | uniq -c | head -40
grep -E "^\[       OK \]" "$OUT/integration.log" | sed 's/\[       OK \] //' > "$OUT/passed.txt"
# The CPU-side unit tests, built here against the newer CLI11/GoogleTest/json/curl.
for t in kopt_unit_tests kopt_provider_tests; do
  ./build-gpu/tests/$t >"$OUT/$t.log" 2>&1 && echo "$t: $(tail -1 "$OUT/$t.log")" || { echo "$t FAILED"; rc=1; }
done
if [[ -z "${SKIP_OVERHEAD:-}" ]]; then
  benchmarks/eval_overhead.sh build-gpu/kopt cuda 3 2>&1 | tee "$OUT/overhead_cuda.txt"
fi
exit $rc
