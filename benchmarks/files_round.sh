#!/usr/bin/env bash
# The `files` provider end to end (issue 11): one --no-wait round written, answered with
# files (a load_inline CUDA kernel as a bare .reply.py, an LLM-style .reply.md), resumed,
# verified and timed.  Usage: benchmarks/files_round.sh [cuda|cpu]   (KOPT, OUT)
set -uo pipefail
cd "$(dirname "$0")/.."
device=${1:-cuda}
KOPT=${KOPT:-./build-gpu/kopt}
OUT=${OUT:-files-logs}
run=$OUT/files-run
rm -rf "$run"
mkdir -p "$OUT"
"$KOPT" -q optimize examples/swish.py --provider files --no-wait -n 2 --max-candidates 2 --final-top 2 \
  --device "$device" --out "$run" >"$OUT/round1.txt" 2>&1
echo "round 1 exit $? (4 = waiting for replies); prompts: $(ls "$run/inbox")"
# Answers arrive by rename, as a tool would write them.
cp benchmarks/replies/swish_fused_cuda.py "$run/inbox/.tmp" && mv "$run/inbox/.tmp" "$run/inbox/0001.reply.py"
cp benchmarks/replies/swish_silu.md "$run/inbox/.tmp" && mv "$run/inbox/.tmp" "$run/inbox/0002.reply.md"
"$KOPT" -q optimize --resume "$run" --no-wait --json >"$OUT/resume.json" 2>"$OUT/resume.err"
echo "resume exit $?"
"$KOPT" report "$run" | tee "$OUT/report.txt"
