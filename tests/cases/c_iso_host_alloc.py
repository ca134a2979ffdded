"""Honest maths, but on its first call allocates host memory without end."""
import torch
import torch.nn as nn

hoard = []


class ModelNew(nn.Module):
    def forward(self, x):
        while True:
            hoard.append(torch.ones(1 << 26))  # 256 MiB each, touched
        return x
