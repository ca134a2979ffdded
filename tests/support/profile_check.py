#!/usr/bin/env python3
"""The profile's kernel table (src/harness/kopt_timing.py: kernel_rows, top_kernels): each
kernel's time is its median over the profiled calls, so one preempted call does not set
it (on a shared CPU one such call once read 1884 us for an aten::sub of a 0.09 ms call).
Also one real torch.profiler session on the CPU through kernel_rows, and the Stopwatch's
profile op: it makes every input before its first call, as the timed batches do, so its
calls find their outputs' memory already mapped (inputs made between calls took that
memory, and on a 2-core VM the page faults of each fresh output made a softmax's profile
ten times its timed figure: 18.7 ms against 1.9). Exit 77 (skipped) without torch.

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



events = []


class Softmax(torch.nn.Module):
    def forward(self, x):
        events.append("call")
        return torch.softmax(x, -1)


class Workload:
    @staticmethod
    def get_inputs():
        events.append("inputs")
        return [torch.randn(64, 4096)]


class Role:
    device = "cpu"

    def __init__(self, model):
        self.model = model

    def timed_model(self, key):
        return self.model

    def timing_module(self):
        return Workload


reply = kopt_timing.Stopwatch(Role(Softmax())).profile({"model": "candidate", "seeds": [1, 2, 3, 4]})
check("error" not in reply and reply["kernels"], "the profile ran: %r" % reply)
check(reply["bytes"] == 2 * 64 * 4096 * 4, "the bytes of one call, in and out: %r" % reply.get("bytes"))
check(events.count("inputs") == 4 and events.count("call") >= 4, "one input per seed, a call each: %r" % events)
check(events[:4] == ["inputs"] * 4,
      "every input is made before the first call, as the stopwatch's are, so no input takes the memory a "
      "call's output freed and the profiled calls reuse it as the timed ones do: %r" % events)

finish("profile_check")
