#!/usr/bin/env bash
# The result-quality benchmark of issue 23 (benchmarks/quality/README.md): the 8 workloads
# of this folder as one suite, `--provider files` for ROUNDS rounds of N candidates, the
# prompts answered between device calls; and the same suite with the builtin provider.
#
# Device steps (one device call each; carry benchmarks/quality/state and .gpubin):
#   start     build kopt (or unpack .gpubin/quality-bin.tgz), baselines, round 1's prompts
#   resume    copy state/replies/** into the inboxes, kopt optimize --resume --no-wait:
#             the replies are verified and timed, the next round's prompts are written
#             (after the last round: the final gate); run it again after an interrupted call
#   builtin   the same suite with --provider builtin (started, or resumed if it exists)
#   copytest  kopt baseline on COPY_WORKLOADS (default: the four memory-bound ones): the
#             baselines, the bound and the copy test's practical ceiling, into
#             $OUT/baseline-NAME.json and copytest.txt; touches no state (run it before
#             another step in one call: CALL_LIMIT=... round.sh builtin after it)
# Each device step ends by writing $OUT: state.tgz (the whole state folder), prompts.md
# (the prompts still waiting, concatenated), summary.txt (kopt's suite summaries and the
# table), report-files.json / report-builtin.json (kopt report --format json), logs.tgz,
# and quality-bin.tgz after a build.
# Local steps (between calls, no GPU):
#   unpack DIR   take a call's files (DIR/state.tgz) as benchmarks/quality/state; replies kept
#   prompts      the prompts waiting for a reply, each with the reply file to write
#   table        benchmarks/quality/table.py over the state's suites
#
# Environment (defaults for the GPU run; the CPU smoke test overrides them):
#   DEVICE=cuda  PROVIDER=files  N=2  ROUNDS=3  FINAL_TOP=3  PATIENCE=0  EXTRA_ARGS=
#   AT_ONCE=1              a shard's workloads optimized side by side (--workloads-at-once;
#                          given at every step, kopt does not save it)
#   RESUME_ARGS=           options for the resume step, e.g. "--max-candidates 4 --final-top 1"
#                          to end the run after round 2 with a smaller final gate (short device time);
#                          also given to a builtin step that resumes (e.g. "--time-budget 300s")
#   BUILTIN_ARGS="-n 2 --max-candidates 2 --final-top 1 --time-budget 120s"
#   KOPT_QUALITY_SCALE=1   batch multiplier of every workload (fixed at start, kept in state)
#   WORKLOADS="name ..."   a subset of the workloads (fixed at start)
#   SHARDS                 suites run side by side, shard i on GPU i mod GPUs (default: the
#                          number of GPUs; fixed at start; any GPU count works on resume)
#   KOPT                   a kopt binary to use instead of building (e.g. /tmp/kopt-main)
#   CALL_LIMIT=570         seconds this call may take; kopt gets SIGTERM 60 s before it
#   STATE=benchmarks/quality/state   OUT=$OUT (device tool) or /tmp/kopt-quality-out
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
here=benchmarks/quality
STATE=${STATE:-$here/state}
OUT=${OUT:-/tmp/kopt-quality-out}
CALL_LIMIT=${CALL_LIMIT:-570}
ALL_WORKLOADS="gemm_gelu conv_gn_relu logsumexp_rows causal_attention maxpool2d softmax_rows mlp3 elementwise_chain"
start_s=$(date +%s)
say() { echo "[$(( $(date +%s) - start_s )) s] $*"; }
left() { echo $(( CALL_LIMIT - ($(date +%s) - start_s) )); }
py=$(command -v python3 || echo /usr/bin/python3)
python3 -c 'import torch' 2>/dev/null || py=/usr/bin/python3

# --- the kopt binary -------------------------------------------------------------------
# A carried build is used only when it was built from the same sources (their hash is in
# the tarball): a stale binary would measure old code.
source_hash() {
  find src include prompts cmake CMakeLists.txt -type f 2>/dev/null | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16
}
get_kopt() {
  if [ -n "${KOPT:-}" ]; then return 0; fi
  local want; want=$(source_hash)
  if [ -f .gpubin/quality-bin.tgz ]; then
    tar xzf .gpubin/quality-bin.tgz
    if [ "$(cat build-gpu/source.hash 2>/dev/null)" = "$want" ]; then
      KOPT=$root/build-gpu/kopt; say "unpacked .gpubin/quality-bin.tgz (sources $want)"; return 0
    fi
    say "the carried build is from other sources: building"
  fi
  local prefix; prefix=$("$py" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
  if ! { cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DKOPT_BUILD_TESTS=OFF -DCMAKE_PREFIX_PATH="$prefix" &&
         ninja -C build-gpu kopt; } >"$OUT/build.log" 2>&1; then
    say "build failed"; tail -40 "$OUT/build.log"; exit 1
  fi
  strip build-gpu/kopt 2>/dev/null
  echo "$want" >build-gpu/source.hash
  tar czf "$OUT/quality-bin.tgz" build-gpu/kopt build-gpu/source.hash
  rm -f "$OUT/build.log"
  KOPT=$root/build-gpu/kopt
  say "built; carry $OUT/quality-bin.tgz as .gpubin/quality-bin.tgz next time"
}

gpu_count() {
  if [ "${DEVICE:-cuda}" != cuda ]; then echo 1; return; fi
  local n; n=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
  [ "${n:-0}" -ge 1 ] && echo "$n" || echo 1
}

# --- state -----------------------------------------------------------------------------
# state/config.env fixes what must not change between calls (the scale changes the inputs).
load_config() {
  [ -f "$STATE/config.env" ] || { echo "round.sh: no $STATE/config.env: run the start step first" >&2; exit 2; }
  # shellcheck disable=SC1090
  . "$STATE/config.env"
  export KOPT_QUALITY_SCALE
}

# kopt keeps the absolute workload path in suite.json and run.json; the device's checkout
# may live elsewhere next call. Point every path that is gone at this checkout's file.
fix_paths() {
  "$py" - "$STATE" "$root/$here" <<'PY'
import json, os, sys
state, here = sys.argv[1], sys.argv[2]
def fix(p):
    if isinstance(p, str) and p.endswith('.py') and not os.path.exists(p):
        q = os.path.join(here, os.path.basename(p))
        if os.path.exists(q):
            return q
    return p
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            o[k] = fix(v) if k == 'workload' else walk(v)
    elif isinstance(o, list):
        for i, v in enumerate(o):
            o[i] = walk(v)
    return o
for d, _, files in os.walk(state):
    for name in files:
        if name not in ('suite.json', 'run.json'):
            continue
        path = os.path.join(d, name)
        doc = json.load(open(path))
        before = json.dumps(doc, sort_keys=True)
        walk(doc)
        if json.dumps(doc, sort_keys=True) != before:
            tmp = path + '.tmp'
            json.dump(doc, open(tmp, 'w'), indent=2)
            os.replace(tmp, path)
            print('fixed workload paths in', path)
PY
}

# Replies written between calls go to state/replies/<kind>/shard-I/<workload>/NNNN.reply.md
# (or .py); they are copied into that run's inbox by rename, as docs/providers.md asks.
copy_replies() {
  local n=0 f rel dest
  [ -d "$STATE/replies" ] || { echo 0; return; }
  while IFS= read -r f; do
    rel=${f#"$STATE"/replies/}
    dest=$STATE/$(dirname "$rel")/inbox
    [ -d "$dest" ] || { echo "round.sh: $f: no inbox $dest" >&2; continue; }
    [ -e "$dest/$(basename "$f")" ] && cmp -s "$f" "$dest/$(basename "$f")" && continue
    cp "$f" "$dest/.$(basename "$f").tmp" && mv "$dest/.$(basename "$f").tmp" "$dest/$(basename "$f")" && n=$((n + 1))
  done < <(find "$STATE/replies" -type f \( -name '[0-9][0-9][0-9][0-9].reply.md' -o -name '[0-9][0-9][0-9][0-9].reply.py' \) | sort)
  echo "$n"
}

# run_shards KIND ARGS...: kopt optimize on every shard of KIND (files|builtin), shards on
# GPU i mod GPUs side by side, those sharing a GPU one after another. A shard folder that
# exists is resumed. SIGTERM 60 s before the call's limit: kopt saves and exits 130.
run_shards() {
  local kind=$1; shift
  local gpus; gpus=$(gpu_count)
  local g i
  mkdir -p "$STATE/$kind" "$STATE/logs"
  for ((g = 0; g < gpus && g < SHARDS; g++)); do
    (
      for ((i = g; i < SHARDS; i += gpus)); do
        local dir=$STATE/$kind/shard-$i limit=$(( $(left) - 60 ))
        local log=$STATE/logs/$kind-shard-$i-$(date -u +%Y%m%d-%H%M%S)
        local -a cmd
        if [ -f "$dir/suite.json" ] || [ -f "$dir/run.json" ]; then
          cmd=("$KOPT" -q optimize --resume "$dir" "${at_once[@]}" "$@")
        else
          cmd=("$KOPT" -q optimize "${paths[@]}" --shard "$i/$SHARDS" --device "$DEVICE" --out "$dir"
               "${at_once[@]}" "$@" $EXTRA_ARGS)
        fi
        [ "$limit" -gt 30 ] || { echo "shard $i: no time left in this call" >"$log.out"; continue; }
        [ "$DEVICE" = cuda ] && export CUDA_VISIBLE_DEVICES=$g
        echo "${cmd[*]}" >"$log.cmd"
        timeout -s TERM -k 45 "$limit" "${cmd[@]}" >"$log.out" 2>"$log.err"
        echo "exit $?" >>"$log.out"
      done
    ) &
  done
  wait
  for ((i = 0; i < SHARDS; i++)); do
    local last; last=$(ls -t "$STATE"/logs/"$kind"-shard-"$i"-*.out 2>/dev/null | head -1)
    echo "== $kind shard $i ($(tail -1 "$last" 2>/dev/null); 0: all faster, 3: finished, 4: waiting for replies, 124/130/143: stopped, resume again)"
    grep -v '^exit ' "$last" 2>/dev/null
    [ -n "$last" ] && tail -3 "${last%.out}.err" | grep -i 'error' | sed 's/^/  stderr: /'
  done
}

# Prompts whose candidate is still pending and that have no reply anywhere. kopt's resume
# goes on to the next round even when a round's prompts are unanswered (measured on the
# CPU: 4 pending prompts after one resume), which spends the rounds: refuse unless FORCE=1.
unanswered() {
  "$py" - "$STATE" <<'PY'
import glob, json, os, sys
state = sys.argv[1]
for prompt in sorted(glob.glob(os.path.join(state, 'files', 'shard-*', '**', 'inbox', '[0-9]*.prompt.md'), recursive=True)):
    inbox = os.path.dirname(prompt); run = os.path.dirname(inbox); n = os.path.basename(prompt)[:4]
    try:
        status = json.load(open(os.path.join(run, 'candidates', n, 'record.json'))).get('status')
    except OSError:
        continue
    rel = os.path.relpath(run, state)
    replies = [os.path.join(inbox, f'{n}.reply.{e}') for e in ('md', 'py')] + \
              [os.path.join(state, 'replies', rel, f'{n}.reply.{e}') for e in ('md', 'py')]
    if status == 'pending' and not any(os.path.exists(r) for r in replies):
        print(prompt)
PY
}

shard_dirs() { ls -d "$STATE/$1"/shard-* 2>/dev/null; }

# Everything the next call needs, and what the answering side reads, into $OUT.
pack() {
  mkdir -p "$OUT"
  local kind dirs
  : >"$OUT/prompts.md"
  for kind in files builtin; do
    dirs=$(shard_dirs $kind) || continue
    [ -n "$dirs" ] || continue
    # shellcheck disable=SC2086
    "$KOPT" report $dirs --format json -o "$OUT/report-$kind.json" 2>>"$OUT/summary.txt"
    "$py" "$here/table.py" --json "$OUT/report-$kind.json" --title "$kind provider" 2>&1 | tee -a "$OUT/summary.txt"
  done
  [ -f "$OUT/report-files.json" ] && "$py" "$here/table.py" --json "$OUT/report-files.json" --prompts --state "$STATE" >"$OUT/prompts.md"
  tar czf "$OUT/logs.tgz" -C "$STATE" logs 2>/dev/null
  tar czf "$OUT/state.tgz" --exclude='./logs' --exclude='*/report.html' -C "$STATE" .
  say "state.tgz $(du -h "$OUT/state.tgz" | cut -f1), prompts waiting: $(grep -c '^=== prompt' "$OUT/prompts.md")"
}

# --- steps -----------------------------------------------------------------------------
[ $# -ge 1 ] || { sed -n '2,38p' "$0"; exit 2; }
mkdir -p "$OUT"
step=$1; shift
case $step in
  start|resume|builtin)
    : >"$OUT/summary.txt"
    if [ "$step" = start ]; then
      [ -e "$STATE/files" ] && { echo "round.sh: $STATE/files exists: resume it, or remove $STATE to start again" >&2; exit 2; }
      mkdir -p "$STATE"
      DEVICE=${DEVICE:-cuda}
      SHARDS=${SHARDS:-$(gpu_count)}
      nw=$(echo ${WORKLOADS:-$ALL_WORKLOADS} | wc -w)
      [ "$SHARDS" -le "$nw" ] || SHARDS=$nw
      printf 'KOPT_QUALITY_SCALE=%q\nWORKLOADS=%q\nSHARDS=%q\nDEVICE=%q\n' \
        "${KOPT_QUALITY_SCALE:-1}" "${WORKLOADS:-$ALL_WORKLOADS}" "$SHARDS" "$DEVICE" >"$STATE/config.env"
    fi
    load_config
    if [ "$step" = resume ]; then
      missing=$(unanswered)
      if [ -n "$missing" ] && [ -z "${FORCE:-}" ]; then
        echo "round.sh: $(echo "$missing" | wc -l) prompt(s) have no reply (FORCE=1 resumes anyway, spending the round):"
        echo "$missing"; exit 2
      fi
    fi
    EXTRA_ARGS=${EXTRA_ARGS:-}
    AT_ONCE=${AT_ONCE:-1}
    at_once=()  # only when asked for: a kopt built before the option (KOPT=...) still runs
    [ "$AT_ONCE" -gt 1 ] 2>/dev/null && at_once=(--workloads-at-once "$AT_ONCE")
    RESUME_ARGS=${RESUME_ARGS:-}
    paths=()
    for w in $WORKLOADS; do paths+=("$root/$here/$w.py"); done
    get_kopt
    # The GPU machine has no bubblewrap package: a carried one (.gpubin/bwrap) confines candidates.
    if [ -x .gpubin/bwrap ] && [ -z "${KOPT_BWRAP:-}" ]; then export KOPT_BWRAP=$root/.gpubin/bwrap; fi
    [ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    fix_paths
    say "step $step: ${#paths[@]} workloads in $SHARDS shard(s) on $(gpu_count) GPU(s), scale $KOPT_QUALITY_SCALE, $DEVICE"
    case $step in
      start)
        # 3 rounds of 2 = 6 candidates; patience 0 so a round without gain does not end it.
        run_shards files --provider "${PROVIDER:-files}" --no-wait -n "${N:-2}" \
          --max-candidates $(( ${N:-2} * ${ROUNDS:-3} )) --patience "${PATIENCE:-0}" --final-top "${FINAL_TOP:-3}" ;;
      resume)
        say "replies copied into inboxes: $(copy_replies)"
        # shellcheck disable=SC2086
        run_shards files --no-wait $RESUME_ARGS ;;
      builtin)
        # shellcheck disable=SC2086
        if [ -n "$(shard_dirs builtin)" ]; then run_shards builtin $RESUME_ARGS
        else run_shards builtin --provider builtin --patience 0 ${BUILTIN_ARGS:--n 2 --max-candidates 2 --final-top 1 --time-budget 120s}; fi ;;
    esac | tee -a "$OUT/summary.txt"
    pack
    say done ;;
  copytest)
    : >"$OUT/copytest.txt"
    DEVICE=${DEVICE:-cuda}
    get_kopt
    [ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$OUT/copytest.txt"
    for w in ${COPY_WORKLOADS:-elementwise_chain logsumexp_rows maxpool2d softmax_rows}; do
      [ "$(left)" -gt 60 ] || { say "stopping before $w: the call's time is nearly spent"; break; }
      say "kopt baseline $w" | tee -a "$OUT/copytest.txt"
      KOPT_QUALITY_SCALE=${KOPT_QUALITY_SCALE:-1} timeout "$(( $(left) - 30 ))" "$KOPT" baseline "$root/$here/$w.py" \
        --device "$DEVICE" --compile-modes default --json >"$OUT/baseline-$w.json" 2>>"$OUT/copytest.txt"
      # One line: the best baseline, its share of the datasheet's bound, the copy's share of
      # the peak, and the practical ceiling (copy_fraction / fraction_of_light).
      "$py" - "$w" "$OUT/baseline-$w.json" <<'PY' | tee -a "$OUT/copytest.txt"
import json, sys
name, path = sys.argv[1:3]
try:
    d = json.load(open(path))
except Exception as e:
    sys.exit("%s: no JSON (%s)" % (name, e))
sol, copy = d.get("sol") or {}, (d.get("profile") or {}).get("copy") or {}
line = "%s: best %s %.4f ms" % (name, d.get("best"), d.get("best_ms") or 0)
if sol.get("fraction_of_light"):
    line += "; %s-bound, at %.1f%% of the datasheet's bound (ceiling %.3fx)" % (
        sol.get("bound"), 100 * sol["fraction_of_light"], 1 / sol["fraction_of_light"])
if sol.get("copy_fraction") and sol.get("fraction_of_light"):
    ratio = sol["copy_fraction"] / sol["fraction_of_light"]
    line += "; a copy moves %.3f TB/s, %.1f%% of the peak: practical ceiling %.3fx%s" % (
        sol["copy_bandwidth"] / 1e12, 100 * sol["copy_fraction"], max(1.0, ratio),
        " (the best baseline moves more than the copy: copy/best %.3f)" % ratio if ratio < 1 else "")
print(line)
print("  profile.copy: " + json.dumps(copy))
PY
    done
    say done ;;
  unpack)  # unpack DIR: the files of a device call
    src=${1:?unpack DIR}
    [ -f "$src/state.tgz" ] || { echo "round.sh: $src/state.tgz missing" >&2; exit 2; }
    tmp=$(mktemp -d "$STATE.new.XXXXXX")
    tar xzf "$src/state.tgz" -C "$tmp" || exit 1
    [ -d "$STATE/replies" ] && cp -a "$STATE/replies" "$tmp/" 2>/dev/null
    [ -d "$STATE/logs" ] && cp -a "$STATE/logs" "$tmp/" 2>/dev/null
    [ -f "$src/logs.tgz" ] && tar xzf "$src/logs.tgz" -C "$tmp"
    rm -rf "$STATE.old" && { [ ! -e "$STATE" ] || mv "$STATE" "$STATE.old"; } && mv "$tmp" "$STATE" && rm -rf "$STATE.old"
    if [ -f "$src/quality-bin.tgz" ]; then mkdir -p .gpubin && cp "$src/quality-bin.tgz" .gpubin/; fi
    echo "state: $STATE ($(du -sh "$STATE" | cut -f1)); carry [\"$STATE\", \".gpubin\"]"
    [ -f "$src/report-files.json" ] && "$py" "$here/table.py" --json "$src/report-files.json" --prompts --state "$STATE" --list ;;
  prompts)
    load_config
    KOPT=${KOPT:-$(command -v kopt || echo build/kopt)}
    dirs=$(shard_dirs files)
    # shellcheck disable=SC2086
    "$KOPT" report $dirs --format json -o "$STATE/.report.json" && "$py" "$here/table.py" --json "$STATE/.report.json" --prompts --state "$STATE" --list ;;
  table)
    KOPT=${KOPT:-$(command -v kopt || echo build/kopt)}
    for kind in files builtin; do
      dirs=$(shard_dirs $kind)
      # shellcheck disable=SC2086
      [ -n "$dirs" ] && KOPT=$KOPT "$py" "$here/table.py" --title "$kind provider" $dirs
    done ;;
  *) echo "round.sh: unknown step $step" >&2; exit 2 ;;
esac
