"""Row-wise logsumexp, 32768 x 16384 float32 (2 GiB in, 128 KiB out): a memory-bound
reduction. KOPT_QUALITY_SCALE multiplies the rows (benchmarks/quality/README.md)."""
import os

import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return torch.logsumexp(x, dim=self.dim)


batch_size = max(1, round(32768 * float(os.environ.get("KOPT_QUALITY_SCALE", "1"))))
row_length = 16384


def get_inputs():
    return [torch.randn(batch_size, row_length)]


def get_init_inputs():
    return [1]
