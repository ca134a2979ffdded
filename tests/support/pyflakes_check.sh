#!/usr/bin/env bash
# pyflakes over kopt's own Python (the worker harness, the timing benchmarks, the
# examples). The harness's CUDA branches never run on a CPU machine; this at least
# finds their undefined names and stale imports. Exit 77 (skipped) without pyflakes.
# The quality benchmark's state (git-ignored: runs, and candidates an LLM wrote) is not
# kopt's Python and is left out.
set -uo pipefail
files=()
while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$@" -path '*benchmarks/quality/state*' -prune -o -name '*.py' -print0)
for py in ${KOPT_TEST_PYTHON:-} python3 /usr/bin/python3; do
  if [[ -n "$py" ]] && "$py" -m pyflakes --version >/dev/null 2>&1; then
    exec "$py" -m pyflakes "${files[@]}"
  fi
done
echo "pyflakes is not installed (Debian: python3-pyflakes): skipped" >&2
exit 77
