"""Does kopt's CUDA IPC comparer work when the candidate runs in a PID namespace of its
own? (docs/isolation.md, "Processes".) A candidate-like exporter allocates a tensor and
exports it with kopt_ipc.export under a given bubblewrap command line; this trusted
process opens the handle and checks the values, as the comparer does. Each variant also
reports how many processes the exporter can see in /proc and whether it can read this
script's command line (a stand-in for kopt's).
  BWRAP=.gpubin/bwrap python3 benchmarks/scale/pidns_ipc_probe.py   (on the GPU machine)
"""

import json
import os
import shutil
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(HERE, "..", "..", "src", "harness")

EXPORTER = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
import torch, kopt_ipc
t = torch.arange(1 << 20, dtype=torch.float32, device="cuda")
spec = kopt_ipc.export(t)
procs = [p for p in os.listdir("/proc") if p.isdigit()]
leak = False
for p in procs:
    try:
        if (sys.argv[2] + "_probe.py").encode() in open("/proc/%s/cmdline" % p, "rb").read() and int(p) != os.getpid():
            leak = True
    except OSError:
        pass
print(json.dumps({"spec": spec, "pid": os.getpid(), "procs": len(procs), "sees_parent_cmdline": leak}), flush=True)
sys.stdin.readline()
"""


def main():
    sys.path.insert(0, HARNESS)
    import kopt_ipc
    bwrap = os.environ.get("BWRAP", shutil.which("bwrap") or "bwrap")
    lib = "/var/tmp/kopt-pidns-probe"
    os.makedirs(lib, exist_ok=True)
    shutil.copy(os.path.join(HARNESS, "kopt_ipc.py"), lib)
    os.chmod(lib, 0o755)
    os.chmod(os.path.join(lib, "kopt_ipc.py"), 0o644)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.getuid() == 0 else []
    kopt = [bwrap, "--unshare-net", "--die-with-parent", "--ro-bind", "/", "/", "--dev-bind", "/dev", "/dev",
            "--tmpfs", "/tmp", "--tmpfs", "/run", "--remount-ro", "/run"]
    pidns = ["--unshare-pid", "--proc", "/proc"]
    variants = [("no bubblewrap", nobody),
                ("kopt's options", nobody + kopt),
                ("kopt's options + own PID namespace", nobody + kopt + pidns),
                ("root, own PID namespace only", [bwrap, "--dev-bind", "/", "/"] + pidns)]
    torch.zeros(1, device="cuda")
    for label, prefix in variants:
        row = {"variant": label}
        t0 = time.time()
        p = subprocess.Popen(["timeout", "90"] + prefix + [sys.executable, "-c", EXPORTER, lib, "pidns_ipc"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        try:
            got = json.loads(line)
            row.update({k: got[k] for k in ("pid", "procs", "sees_parent_cmdline")})
            imp = kopt_ipc.Importer()
            view = imp.view(got["spec"], torch.float32, [1 << 20])
            want = torch.arange(1 << 20, dtype=torch.float32, device="cuda")
            row["ipc"] = "ok" if torch.equal(view, want) else "values differ"
            imp.close_all()
        except Exception as exc:  # the probe reports every failure as a row
            row["ipc"] = "failed: %s" % (str(exc) or type(exc).__name__)
            row["stderr"] = p.stderr.read()[-400:] if p.poll() is not None else ""
        try:
            p.stdin.write("\n")
            p.stdin.flush()
        except OSError:
            pass
        p.wait(timeout=60)
        row["seconds"] = round(time.time() - t0, 2)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
