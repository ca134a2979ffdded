"""MaxPool2d, kernel 3, stride 2, padding 1, on 64 x 128 x 256 x 256 float32 (2 GiB in,
512 MiB out). KOPT_QUALITY_SCALE multiplies the batch (benchmarks/quality/README.md)."""
import os

import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, kernel_size, stride, padding):
        super().__init__()
        self.pool = nn.MaxPool2d(kernel_size=kernel_size, stride=stride, padding=padding)

    def forward(self, x):
        return self.pool(x)


batch_size = max(1, round(64 * float(os.environ.get("KOPT_QUALITY_SCALE", "1"))))
channels = 128
height = width = 256
kernel_size = 3
stride = 2
padding = 1


def get_inputs():
    return [torch.randn(batch_size, channels, height, width)]


def get_init_inputs():
    return [kernel_size, stride, padding]
