#!/usr/bin/env python3
"""Verification at KernelBench scale (issue 26): for each workload in benchmarks/scale,
`kopt baseline`, then `kopt eval --time none` on its honest and its wrong candidate.
Prints one JSON line per run and a summary table: verification overhead = total minus the
candidate's import/build, minus the candidate's and the reference's own compute (worker
start-up included in the overhead); the largest resident set of any process of the run
(kopt or a worker: RUSAGE_CHILDREN's ru_maxrss) and kopt's own, sampled from /proc.

Usage: run_scale.py KOPT [NAME...]   (NAME: softmax_6g swish_6g avgpool1d_2g convt_chain_1g attention matmul_chain)
Environment: COMPARE=auto|host (kopt eval --compare), DEVICE=cuda|cpu, SKIP_BASELINE=1.
"""
import json
import os
import resource
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ALL = ["matmul_chain", "attention", "convt_chain_1g", "avgpool1d_2g", "swish_6g", "softmax_6g"]


def run(cmd):
    """(exit code, stdout, stderr, seconds, kopt's own peak RSS in MiB, the run's largest process in MiB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample():
        while p.poll() is None:
            try:
                with open("/proc/%d/status" % p.pid) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.2)
    t = threading.Thread(target=sample)
    t.start()
    out, err = p.communicate()
    t.join()
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return p.returncode, out, err, time.time() - start, peak[0] / 1024.0, max(largest, before) / 1024.0


def main(argv):
    kopt = argv[0]
    names = argv[1:] or ALL
    device = os.environ.get("DEVICE", "cuda")
    compare = os.environ.get("COMPARE", "auto")
    rows = []
    for name in names:
        w = os.path.join(HERE, name + ".py")
        if not os.environ.get("SKIP_BASELINE"):
            rc, out, err, secs, own, largest = run([kopt, "baseline", w, "--device", device, "--json"])
            try:
                doc = json.loads(out)
                eager = doc.get("timing", doc).get("eager", {}).get("median_ms") if isinstance(doc, dict) else None
            except ValueError:
                doc, eager = None, None
            line = {"workload": name, "run": "baseline", "exit": rc, "seconds": round(secs, 1), "eager_ms": eager,
                    "kopt_rss_mib": round(own), "error": err.strip().splitlines()[-1][:300] if rc and err.strip() else ""}
            print(json.dumps(line), flush=True)
        for kind in ("honest", "wrong"):
            c = os.path.join(HERE, "%s_%s.py" % (name, kind))
            rc, out, err, secs, own, largest = run([kopt, "eval", w, c, "--device", device, "--time", "none",
                                                    "--compare", compare, "--json"])
            try:
                doc = json.loads(out)
            except ValueError:
                print(json.dumps({"workload": name, "run": kind, "exit": rc, "error": err.strip()[-600:]}), flush=True)
                continue
            ph = doc.get("phase_seconds", {})
            total = ph.get("total", secs)
            overhead = total - ph.get("candidate_import", 0) - ph.get("candidate_compute", 0) - ph.get("reference_compute", 0)
            line = {"workload": name, "run": kind, "exit": rc, "outcome": doc.get("outcome"), "check": doc.get("check"),
                    "compare": doc.get("compare", {}).get("where"), "total_s": round(total, 2),
                    "build_s": round(ph.get("candidate_import", 0), 2),
                    "candidate_compute_s": round(ph.get("candidate_compute", 0), 2),
                    "reference_compute_s": round(ph.get("reference_compute", 0), 2),
                    "compare_s": round(ph.get("compare", 0), 2), "overhead_s": round(overhead, 2),
                    "trials": doc.get("trials"), "kopt_rss_mib": round(own), "largest_process_mib": round(largest),
                    "reason": (doc.get("reason") or "")[:240], "phases": {k: round(v, 2) for k, v in ph.items()}}
            rows.append(line)
            print(json.dumps(line), flush=True)
    print("\n| workload | candidate | outcome (check) | total s | build s | compute s (cand + ref) | start s (ref, cand) "
          "| compare s | overhead s | kopt RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ph = r["phases"]
        print("| %s | %s | %s (%s) | %.1f | %.1f | %.1f + %.1f | %.1f, %.1f | %.2f | **%.1f** | %d |" % (
            r["workload"], r["run"], r["outcome"], r["check"] or "-", r["total_s"], r["build_s"],
            r["candidate_compute_s"], r["reference_compute_s"], ph.get("reference_start", 0), ph.get("candidate_start", 0),
            r["compare_s"], r["overhead_s"], r["kopt_rss_mib"]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
