"""Does torch.compile time the same in two processes?  Issue 23's baseline drift: the run's
baseline and the final gate, each in a process of its own, timed one workload's
compile:default 4-10% apart while eager agreed.  Suspect: Inductor tunes some kernels
(reductions, pointwise) by timing their configs the first time they run, so each process
that compiles afresh may pick another config; kopt gives every worker its own
TORCHINDUCTOR_CACHE_DIR, so nothing carries that choice from one process to the next.

This script times compile:default of one workload in P fresh processes, each with an empty
cache folder of its own, then in R processes that share the first one's (warm) folder, and
prints per process the median ms (L2 flushed before every call, CUDA events) and the
configs Inductor's autotuner saved (*.best_config in the cache).  If the fresh processes
disagree while the warm ones agree with the first, the cause is the per-process choice.

python3 compile_drift.py WORKLOAD.py [P [R [CALLS]]] -> one JSON line per process, then a
summary line."""
import glob
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import importlib.util, json, os, sys, torch
spec = importlib.util.spec_from_file_location("w", sys.argv[1]); m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
torch.manual_seed(0)
model = m.Model(*m.get_init_inputs()).cuda().eval()
xs = [x.cuda() if isinstance(x, torch.Tensor) else x for x in m.get_inputs()]
fn = torch.compile(model)
flush = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
with torch.no_grad():
    for _ in range(5):
        fn(*xs)
    torch.cuda.synchronize()
    times = []
    for _ in range(int(sys.argv[2])):
        flush.zero_()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(*xs); b.record(); b.synchronize()
        times.append(a.elapsed_time(b))
times.sort()
print(json.dumps({"median_ms": times[len(times) // 2]}))
"""


def run(workload, cache, calls):
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache, TRITON_CACHE_DIR=cache + "/triton")
    out = subprocess.run([sys.executable, "-c", CHILD, workload, str(calls)], env=env,
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1:]}
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    configs = []
    for path in sorted(glob.glob(os.path.join(cache, "**", "*.best_config"), recursive=True)):
        try:
            c = json.load(open(path))
        except (OSError, ValueError):
            continue
        configs.append({k: c[k] for k in sorted(c) if k in ("XBLOCK", "YBLOCK", "RBLOCK", "R0_BLOCK",
                                                               "num_warps", "num_stages")})
    rec["configs"] = configs
    return rec


def main():
    workload = os.path.abspath(sys.argv[1])
    fresh = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    warm = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    calls = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    root = tempfile.mkdtemp(prefix="kopt-drift-")
    fresh_ms, warm_ms = [], []
    for i in range(fresh):
        rec = run(workload, os.path.join(root, f"fresh{i}"), calls)
        rec.update(kind="fresh", process=i)
        print(json.dumps(rec), flush=True)
        if "median_ms" in rec:
            fresh_ms.append(rec["median_ms"])
    for i in range(warm):
        rec = run(workload, os.path.join(root, "fresh0"), calls)
        rec.update(kind="warm (fresh0's cache)", process=i)
        print(json.dumps(rec), flush=True)
        if "median_ms" in rec:
            warm_ms.append(rec["median_ms"])

    def spread(v):
        return round((max(v) - min(v)) / min(v), 4) if len(v) > 1 else None
    print(json.dumps({"workload": os.path.basename(workload), "fresh_ms": fresh_ms, "fresh_spread": spread(fresh_ms),
                      "warm_ms": warm_ms, "warm_spread": spread(warm_ms),
                      "first_vs_warm": spread(fresh_ms[:1] + warm_ms) if fresh_ms else None}))


if __name__ == "__main__":
    main()
