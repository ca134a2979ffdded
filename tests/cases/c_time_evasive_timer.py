"""Defeats the in-process tripwire (empties its watch list) and then makes the harness's
timers report a tenth of the real time. Only kopt's own clock, outside the worker, can
tell."""
import gc
import sys

import torch
import torch.nn as nn


def _cheat():
    harness = sys.modules["kopt_timing"]  # the stopwatch's module (src/harness/kopt_timing.py)
    for obj in gc.get_objects():
        if type(obj).__name__ == "Tripwire":
            obj.watch = []
    real_counter = harness._perf_counter
    start = real_counter()
    harness._perf_counter = lambda: start + (real_counter() - start) * 0.1
    real_event = harness._Event

    class FastEvent(real_event):
        def elapsed_time(self, end):
            return real_event.elapsed_time(self, end) * 0.1

    harness._Event = FastEvent


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 11:
            _cheat()
        return torch.sigmoid(x) * 3.0 - x
