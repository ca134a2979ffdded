"""A small MLP: Linear 1024 -> 2048, GELU, Linear 2048 -> 2048, ReLU, Linear 2048 -> 512,
batch 8192 (115 GFLOP of fp32 matmul). KOPT_QUALITY_SCALE multiplies the batch
(benchmarks/quality/README.md)."""
import os

import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, d_in, d_hidden, d_out):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_hidden)
        self.fc3 = nn.Linear(d_hidden, d_out)

    def forward(self, x):
        x = nn.functional.gelu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


batch_size = max(1, round(8192 * float(os.environ.get("KOPT_QUALITY_SCALE", "1"))))
d_in = 1024
d_hidden = 2048
d_out = 512


def get_inputs():
    return [torch.randn(batch_size, d_in)]


def get_init_inputs():
    return [d_in, d_hidden, d_out]
