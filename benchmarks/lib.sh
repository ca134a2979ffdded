# Shared by the benchmark scripts (sourced, not run).

# A python3 that imports torch: $KOPT_PYTHON, the python3 on PATH, else /usr/bin/python3.
bench_python() {
  local py=${KOPT_PYTHON:-$(command -v python3)}
  "$py" -c 'import torch' 2>/dev/null || py=/usr/bin/python3
  echo "$py"
}

# Python code that reads several concatenated `kopt eval --json` documents from stdin
# into the list `docs`; prefix it to a script given with -c.
BENCH_READ_DOCS='
import json, sys
text, dec, pos, docs = sys.stdin.read(), json.JSONDecoder(), 0, []
while pos < len(text):
    while pos < len(text) and text[pos].isspace(): pos += 1
    if pos >= len(text): break
    d, pos = dec.raw_decode(text, pos); docs.append(d)
'
