#!/usr/bin/env bash
# The opening sleep follows the host (docs/measurement.md): on the workload where ranking and
# the final gate disagreed (benchmarks/quality/logsumexp_rows.py, torch.compile 0.48 ms in
# kopt baseline, 0.60 ms in the gate), build kopt, then kopt baseline and kopt eval --time
# claim with the candidate of that run; prints each model's median, IQR, opening sleep
# (head_us) and host queueing per call, and the claim's comparison phases.
# Usage (device tool, repository root): benchmarks/timing/head_probe.sh   ($OUT: logs)
cd "$(dirname "$0")/../.." || exit 1
OUT=${OUT:-/tmp/kopt-head-probe}
mkdir -p "$OUT"
s=$(date +%s)
prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
{ cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DKOPT_BUILD_TESTS=OFF -DCMAKE_PREFIX_PATH=$prefix && ninja -C build-gpu kopt; } >$OUT/build.log 2>&1 || { tail -20 $OUT/build.log; exit 1; }
echo "built in $(( $(date +%s) - s )) s"
[ -x .gpubin/bwrap ] && export KOPT_BWRAP=$PWD/.gpubin/bwrap
W=benchmarks/quality/logsumexp_rows.py
C=benchmarks/timing/cases/logsumexp_pipe.py
timeout 100 build-gpu/kopt baseline $W --device cuda --json >$OUT/base.json 2>$OUT/base.err; echo "baseline exit $?"
timeout 170 build-gpu/kopt eval $W $C --device cuda --time claim --json >$OUT/claim.json 2>$OUT/claim.err; echo "claim exit $?"
python3 - <<'PY'
import json, os
o = os.environ['OUT']
def show(tag, t):
    d = t.get('detail', {})
    print(tag, 'median %.4f iqr %.4f' % (t.get('median_ms', 0), t.get('iqr_ms', 0)), 'head_us', d.get('head_us'),
          'enqueue/call', (d.get('host') or {}).get('enqueue_per_call_ms'), 'presync', (d.get('presync') or {}).get('median_ms'))
try:
    b = json.load(open(o + '/base.json'))
    show('baseline eager   ', b['eager']); [show('baseline ' + k, v) for k, v in b.get('compiled', {}).items()]
except Exception as e: print('base', e)
try:
    c = json.load(open(o + '/claim.json'))
    print('claim', c['outcome'], {k: round(v, 2) for k, v in c['phase_seconds'].items() if k.startswith('compare') or k in ('total', 'trials')})
    t = c['timing']
    for k in ('candidate', 'eager', 'compile:default'):
        if k in t: show('claim ' + k, t[k])
    print('speedup', json.dumps(t.get('speedup'))[:400])
    print('null', t.get('null'))
except Exception as e: print('claim', e)
PY
tail -2 $OUT/claim.err
