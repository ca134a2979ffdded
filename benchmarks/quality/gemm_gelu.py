"""GEMM + bias + GELU + scale, 4096 x 4096 x 4096 (KernelBench level 2 style): 137 GFLOP of
fp32 matmul, then three elementwise passes over a 64 MiB output. KOPT_QUALITY_SCALE
multiplies the batch (benchmarks/quality/README.md)."""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F


class Model(nn.Module):
    def __init__(self, in_features, out_features, scale):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=False)
        self.bias = nn.Parameter(torch.randn(out_features) * 0.02)
        self.scale = scale

    def forward(self, x):
        x = self.linear(x)
        x = x + self.bias
        x = F.gelu(x)
        return x * self.scale


batch_size = max(1, round(4096 * float(os.environ.get("KOPT_QUALITY_SCALE", "1"))))
in_features = 4096
out_features = 4096
scale = 0.5


def get_inputs():
    return [torch.randn(batch_size, in_features)]


def get_init_inputs():
    return [in_features, out_features, scale]
