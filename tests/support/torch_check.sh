#!/usr/bin/env bash
# A check script of this folder (compare_check.py, stopwatch_check.py) under the first
# interpreter that imports torch; exit 77 (skipped) if none.
# Usage: torch_check.sh SCRIPT.py ARGS...
set -uo pipefail
here=$(dirname "$0")
script=$1; shift
for py in ${KOPT_TEST_PYTHON:-} python3 /usr/bin/python3; do
  if [[ -n "$py" ]] && "$py" -c 'import torch' >/dev/null 2>&1; then
    exec "$py" "$here/$script" "$@"
  fi
done
echo "no python3 with torch: skipped" >&2
exit 77
