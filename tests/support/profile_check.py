#!/usr/bin/env python3
"""The profile's kernel table (src/harness/kopt_timing.py: kernel_rows, top_kernels): each
kernel's time is its median over the profiled calls, so one preempted call does not set
it (on a shared CPU one such call once read 1884 us for an aten::sub of a 0.09 ms call).
Also one real torch.profiler session on the CPU through kernel_rows. Exit 77 (skipped)
without torch.

Usage: profile_check.py HARNESS_DIR
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_lib import check, finish  # noqa: E402 (skips without torch; the harness on the path)

import torch  # noqa: E402
import kopt_timing  # noqa: E402

calls = [{"aten::sub": (10.0, 1), "aten::mul": (5.0, 2)},
         {"aten::sub": (1884.0, 1), "aten::mul": (5.0, 2)},
         {"aten::sub": (12.0, 1)}]
rows = kopt_timing.top_kernels(calls)
by = {r["name"]: r for r in rows}
check(rows[0]["name"] == "aten::sub", "the slowest kernel first: %r" % rows)
check(by["aten::sub"]["us_per_call"] == 12.0, "the median, not the mean (635 us): %r" % by["aten::sub"])
check(by["aten::mul"]["us_per_call"] == 5.0, "a call without the kernel counts 0 in its median: %r" % by["aten::mul"])
check(by["aten::mul"]["launches_per_call"] == 2.0, "launches are a median too: %r" % by["aten::mul"])
check(abs(by["aten::sub"]["share"] - 12.0 / 17.0) < 1e-12, "shares of the medians' sum: %r" % rows)
check(kopt_timing.top_kernels([]) == [], "no calls, no kernels")
check(len(kopt_timing.top_kernels([{"k%02d" % i: (float(i + 1), 1) for i in range(20)}])) == 12, "12 kernels at most")

x = torch.randn(256, 256)
with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
    (x @ x).relu()
real = kopt_timing.kernel_rows(prof, "cpu")
check(any("mm" in name for name in real), "a real CPU profile names the matmul: %r" % sorted(real))
check(all(us > 0 and n >= 1 for us, n in real.values()), "times and launches: %r" % real)

finish("profile_check")
