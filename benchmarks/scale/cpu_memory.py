#!/usr/bin/env python3
"""Peak resident memory of every process of a `kopt eval` on the CPU (issue 26's CPU goal):
kopt itself, the reference worker and the candidate worker, each its own VmHWM sampled from
/proc every 0.1 s, plus the phases kopt reports. One JSON line per run.

Usage: cpu_memory.py KOPT [ROWS...]   (ROWS: the input's rows, 16384 = 1 GiB; default 16384)
Environment: CANDIDATE=honest|wrong (default honest), WORK_DIR (kopt eval --work-dir).
"""
import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def hwm_mib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def role(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return "other"
    for k, a in enumerate(argv):
        if a == b"--role" and k + 1 < len(argv):
            return argv[k + 1].decode()
    return "other"


def run(kopt, rows):
    env = dict(os.environ, KOPT_SCALE_ROWS=str(rows))
    w = os.path.join(HERE, "relu_1g_cpu.py")
    c = os.path.join(HERE, "relu_1g_cpu_%s.py" % os.environ.get("CANDIDATE", "honest"))
    cmd = [kopt, "eval", w, c, "--device", "cpu", "--time", "none", "--json"]
    if os.environ.get("WORK_DIR"):
        cmd += ["--work-dir", os.environ["WORK_DIR"]]
    start = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peaks = {}

    def sample():
        while p.poll() is None:
            seen = [(p.pid, "kopt")]
            todo = children(p.pid)
            while todo:
                q = todo.pop()
                seen.append((q, role(q)))
                todo += children(q)
            for q, r in seen:
                key = "%s_mib" % r
                peaks[key] = max(peaks.get(key, 0.0), hwm_mib(q))
            time.sleep(0.1)
    t = threading.Thread(target=sample)
    t.start()
    out, err = p.communicate()
    t.join()
    try:
        doc = json.loads(out)
    except ValueError:
        doc = {}
    ph = doc.get("phase_seconds", {})
    return {"rows": rows, "output_mib": rows * 16384 * 4 // (1 << 20), "exit": p.returncode,
            "outcome": doc.get("outcome"), "check": doc.get("check"), "reason": (doc.get("reason") or "")[:200],
            "seconds": round(time.time() - start, 1), "trials_s": round(ph.get("trials", 0), 1),
            "candidate_calls_s": round(ph.get("candidate_calls", 0), 1),
            "reference_compute_s": round(ph.get("reference_compute", 0), 1),
            "candidate_compute_s": round(ph.get("candidate_compute", 0), 1),
            "peaks": {k: round(v) for k, v in peaks.items()},
            "error": "" if doc else err.strip()[-300:]}


def main(argv):
    kopt = argv[0]
    for rows in [int(r) for r in argv[1:]] or [16384]:
        print(json.dumps(run(kopt, rows)), flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
