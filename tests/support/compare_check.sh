#!/usr/bin/env bash
# compare_check.py under the first interpreter that imports torch; exit 77 (skipped) if none.
set -uo pipefail
here=$(dirname "$0")
for py in ${KOPT_TEST_PYTHON:-} python3 /usr/bin/python3; do
  if [[ -n "$py" ]] && "$py" -c 'import torch' >/dev/null 2>&1; then
    exec "$py" "$here/compare_check.py" "$@"
  fi
done
echo "no python3 with torch: skipped" >&2
exit 77
