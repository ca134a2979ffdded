#!/usr/bin/env python3
"""The stopwatch's CUDA branch (src/harness/kopt_timing.py, Stopwatch.run) on the CPU,
against a simulated GPU clock: the events, the opening sleep and the synchronize are
replaced, so the code that only runs on a GPU runs here. Checks that a batch reports the
sleep's own length (an event after it, docs/measurement.md "The opening sleep is
measured"), that the span still holds the sleep, that no sleep means none reported, and
that the copy test (time_copies) times each copy between its own events, warm-ups left out.
Exit 77 (skipped) without torch.

Usage: stopwatch_check.py HARNESS_DIR
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_lib import check, finish  # noqa: E402 (skips without torch; the harness on the path)

import torch  # noqa: E402
import kopt_timing  # noqa: E402


class Gpu:
    """A GPU clock in ms that the fakes below advance as the harness queues work."""
    now = 0.0
    cycles_per_ms = 1.6e6  # a 1.6 GHz SM clock: a cycle-counted sleep lasts longer than at 2 GHz


class FakeEvent:
    def __init__(self, enable_timing=False):
        self.at = None

    def record(self):
        self.at = Gpu.now

    def synchronize(self):
        pass

    def elapsed_time(self, other):
        return other.at - self.at


def fake_sleep(cycles):
    Gpu.now += cycles / Gpu.cycles_per_ms


CALL_MS = 0.47


class Model:
    def __call__(self, x):
        Gpu.now += CALL_MS
        return x


class Role:
    device = "cuda"

    def timed_model(self, key):
        return Model()


kopt_timing._Event = FakeEvent
kopt_timing._gpu_sleep = fake_sleep
kopt_timing.synchronize = lambda device: None

sw = kopt_timing.Stopwatch(Role())
sw.inputs = [[torch.zeros(4)]]
sw.flush_buf = None

# A 387 us sleep at 2 GHz's count (774,000 cycles) lasts 483.75 us at 1.6 GHz.
Gpu.now = 0.0
r = sw.run({"model": "m", "head_cycles": 774000})
check(r.get("ok") is True, "the batch ran: %r" % r)
check(abs(r["sleep_ms"] - 774000 / Gpu.cycles_per_ms) < 1e-9, "sleep_ms is the sleep's own length: %r" % r)
check(abs(r["ms"] - (r["sleep_ms"] + CALL_MS)) < 1e-9, "the span holds the sleep and the call: %r" % r)
check(abs(r["head_ms"] - r["ms"]) < 1e-9, "head_ms runs to the event before the closing synchronize: %r" % r)
null = sw.run({"model": "null", "head_cycles": 774000})
check(abs(null["ms"] - null["sleep_ms"]) < 1e-9, "a null batch is its sleep: %r" % null)

# No opening sleep: none reported.
r = sw.run({"model": "m"})
check(r["sleep_ms"] == 0.0 and abs(r["ms"] - CALL_MS) < 1e-9, "no sleep, no sleep_ms: %r" % r)

# The copy test's CUDA branch (time_copies): each copy between its own two events, the two
# warm-ups (slow here, as a first touch is) left out of the median.
class Buffer:
    copies = 0

    def copy_(self, src):
        Buffer.copies += 1
        Gpu.now += 5.0 if Buffer.copies <= 2 else 0.25 + 0.01 * (Buffer.copies % 3)
        return self


median = kopt_timing.time_copies(Buffer(), Buffer(), 10, "cuda")
check(Buffer.copies == 12, "two warm-ups and ten timed copies: %d" % Buffer.copies)
check(abs(median - 0.26e-3) < 1e-12, "the median of the timed copies, in seconds: %r" % median)

finish("stopwatch_check")
