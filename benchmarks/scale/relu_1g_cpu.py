"""The CPU goal of issue 26: relu(x) * 0.5 + 1 on a 16384 x 16384 float32 input (1 GiB in,
1 GiB out). KOPT_SCALE_ROWS changes the row count (8192: 512 MiB, 4096: 256 MiB) for the
memory table in docs/benchmarks.md."""
import os

import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.relu(x) * 0.5 + 1


batch_size = int(os.environ.get("KOPT_SCALE_ROWS", "16384"))
dim = 16384


def get_inputs():
    return [torch.randn(batch_size, dim)]


def get_init_inputs():
    return []
