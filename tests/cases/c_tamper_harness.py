"""Disables the harness's tripwire and its output checks, then returns a wrong answer:
kopt's own comparison, outside this process, must still reject it."""
import sys

import torch
import torch.nn as nn

harness = sys.modules.get("__main__")
if harness is not None and hasattr(harness, "Tripwire"):
    harness.Tripwire.changed = lambda self: []
    harness.same_bytes = lambda a, b: True


class ModelNew(nn.Module):
    def forward(self, x):
        return torch.sigmoid(x) * 3.0 - x + 1e-2
