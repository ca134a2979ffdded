#!/usr/bin/env python3
"""What a fresh worker's start-up costs on this machine, step by step (issue 26).

Each step runs in a fresh interpreter, three times; the median is printed. Also: which
torch functions importing torch._dynamo replaces (the tripwire must know them), and which
CUDA calls of a worker's hello create a CUDA context (a process with a context is seen
on the GPU by NVML, and kopt's contention check counts it).

Usage: python3 benchmarks/scale/startup_probe.py
"""
import json
import statistics
import subprocess
import sys
import time

STEPS = {
    "interpreter": "pass",
    "import torch": "import torch",
    "import torch + CUDA context": "import torch; torch.zeros(1, device='cuda'); torch.cuda.synchronize()",
    "import torch + torch._dynamo": "import torch, torch._dynamo",
}

DYNAMO_CHANGES = r"""
import inspect, json, sys, torch
before = {}
for mod, label in ((torch, "torch"), (torch.nn.functional, "torch.nn.functional"), (torch.cuda, "torch.cuda")):
    for name, value in list(vars(mod).items()):
        if not name.startswith("_") and callable(value):
            before[(label, name)] = (mod, value)
import torch._dynamo
out = []
for (label, name), (mod, value) in before.items():
    now = inspect.getattr_static(mod, name, None)
    if now is not value:
        out.append({"name": label + "." + name, "wrapped_original": getattr(now, "__wrapped__", None) is value,
                    "module": getattr(now, "__module__", None),
                    "file": getattr(getattr(now, "__code__", None), "co_filename", None)})
print(json.dumps(out))
"""

CONTEXT = r"""
import json, os, subprocess, sys, torch
def seen():
    q = subprocess.run(["nvidia-smi", "--query-compute-apps=pid", "--format=csv,noheader"],
                       capture_output=True, text=True).stdout
    return str(os.getpid()) in q.split()
out = {"import torch": seen()}
torch.cuda.is_available(); out["is_available"] = seen()
torch.cuda.get_device_properties(0); out["get_device_properties"] = seen()
torch.cuda.set_per_process_memory_fraction(0.5, 0); out["set_per_process_memory_fraction"] = seen()
torch.cuda.mem_get_info(); out["mem_get_info"] = seen()
torch.zeros(1, device="cuda"); out["first tensor"] = seen()
print(json.dumps(out))
"""


def timed(code):
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def main():
    for label, code in STEPS.items():
        print("%-32s %.2f s (median of 3 fresh interpreters)" % (label, timed(code)), flush=True)
    r = subprocess.run([sys.executable, "-c", DYNAMO_CHANGES], capture_output=True, text=True)
    print("torch._dynamo replaces on import:", r.stdout.strip() or r.stderr[-500:], flush=True)
    r = subprocess.run([sys.executable, "-c", CONTEXT], capture_output=True, text=True)
    print("a CUDA context exists (seen by nvidia-smi) after:", r.stdout.strip() or r.stderr[-500:], flush=True)


if __name__ == "__main__":
    main()
