#!/usr/bin/env python3
"""Time of one comparison by the device comparer's rules (src/harness/kopt_compare.py) on
float32 outputs: an honest candidate against its float32 and float64 references, through
the all-finite pass kopt takes and through the general one.

Usage: python3 benchmarks/scale/compare_bench.py [LOG2_ELEMENTS] [cpu|cuda]
(default 24 on cpu: 2^24 elements, chunks of 2^22, one thread; on cuda kopt's own chunk).
"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "harness"))
import kopt_compare  # noqa: E402

log2 = int(sys.argv[1]) if len(sys.argv) > 1 else 24
device = sys.argv[2] if len(sys.argv) > 2 else "cpu"
n = 1 << log2
if device == "cpu":
    torch.set_num_threads(1)
    kopt_compare.CHUNK = 1 << 22
g = torch.Generator(device=device).manual_seed(0)
r64 = torch.randn(n, generator=g, dtype=torch.float64, device=device)
r32 = r64.float()
c = (r64 + 1e-7 * torch.randn(n, generator=g, dtype=torch.float64, device=device)).float()
for fast in (True, False):  # the all-finite pass (kopt's) and the general one
    kopt_compare.FAST = fast
    kopt_compare.compare(c, r32, r64, {})  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(3):
        r = kopt_compare.compare(c, r32, r64, {})
    if device == "cuda":
        torch.cuda.synchronize()
    print("%.4f s per comparison of 2^%d float32 elements on %s, %s pass (%s)"
          % ((time.perf_counter() - t) / 3, log2, device, "all-finite" if fast else "general",
             "correct" if r["ok"] else r["detail"]))
