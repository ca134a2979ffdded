"""Conv2d 3x3 + GroupNorm + ReLU, 32 x 64 -> 128 channels at 128 x 128: 77 GFLOP of
convolution, a 256 MiB output normalized per group. KOPT_QUALITY_SCALE multiplies the batch
(benchmarks/quality/README.md)."""
import os

import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, num_groups):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.norm = nn.GroupNorm(num_groups, out_channels)

    def forward(self, x):
        return torch.relu(self.norm(self.conv(x)))


batch_size = max(1, round(32 * float(os.environ.get("KOPT_QUALITY_SCALE", "1"))))
in_channels = 64
out_channels = 128
height = width = 128
kernel_size = 3
num_groups = 8


def get_inputs():
    return [torch.randn(batch_size, in_channels, height, width)]


def get_init_inputs():
    return [in_channels, out_channels, kernel_size, num_groups]
