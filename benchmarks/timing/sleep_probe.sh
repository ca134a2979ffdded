#!/usr/bin/env bash
# Does the opening sleep's clock drift move kopt's figures? (docs/measurement.md, "The
# opening sleep is measured".) `kopt baseline` of a workload with its own sleep (the
# host's cover) and with a long one (KOPT_TIMING_HEAD_US, default 2000 us), printing per
# model the median, the sleep's figures (detail.sleep: the null batch's measured sleep and
# the median and largest drift of the batches' own, in us, which kopt subtracts) and the
# host's queueing. With the correction the two medians agree; a drift_us of tens of us
# at a few hundred us of sleep is the clock effect the correction removes.
#   KOPT=build/kopt benchmarks/timing/sleep_probe.sh W.py [LONG_US]   (on the GPU machine)
set -u
W=${1:?workload}; LONG=${2:-2000}; KOPT=${KOPT:-build/kopt}; PY=$(command -v python3)
for h in "" "$LONG"; do
  env ${h:+KOPT_TIMING_HEAD_US=$h} timeout 300 "$KOPT" baseline "$W" --device cuda --json 2>/dev/null >/tmp/kopt-sleep-probe.json
  "$PY" - "${h:-own}" <<'PY'
import json, sys
try:
    d = json.load(open('/tmp/kopt-sleep-probe.json'))
except ValueError:
    sys.exit(print(json.dumps({'head': sys.argv[1], 'error': 'kopt baseline printed no JSON'})))
models = [('eager', d.get('eager', {}))] + list(d.get('compiled', {}).items())
for name, t in models:
    det = t.get('detail') or {}
    print(json.dumps({'head': sys.argv[1], 'model': name, 'median_ms': t.get('median_ms'), 'iqr_ms': t.get('iqr_ms'),
                      'head_us': det.get('head_us'), 'sleep': det.get('sleep'),
                      'presync_ms': (det.get('presync') or {}).get('median_ms'),
                      'enqueue_per_call_ms': (det.get('host') or {}).get('enqueue_per_call_ms')}))
PY
done
