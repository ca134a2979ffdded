"""Softmax over the last dimension, 8192 x 32768 float32 (1 GiB in and out).
KOPT_QUALITY_SCALE multiplies the rows (benchmarks/quality/README.md)."""
import os

import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.softmax(x, dim=-1)


batch_size = max(1, round(8192 * float(os.environ.get("KOPT_QUALITY_SCALE", "1"))))
dim = 32768


def get_inputs():
    return [torch.randn(batch_size, dim)]


def get_init_inputs():
    return []
