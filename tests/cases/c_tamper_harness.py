"""Disables the harness's tripwire and its output checks, then returns a wrong answer:
kopt's own comparison, outside this process, must still reject it."""
import sys

import torch
import torch.nn as nn

# The harness's modules (src/harness); a KeyError here, if they move, fails the test
# instead of letting the cheat quietly do nothing.
sys.modules["kopt_tripwire"].Tripwire.changed = lambda self: []
sys.modules["kopt_values"].same_bytes = lambda a, b: True
sys.modules["kopt_roles"].same_bytes = lambda a, b: True


class ModelNew(nn.Module):
    def forward(self, x):
        return torch.sigmoid(x) * 3.0 - x + 1e-2
