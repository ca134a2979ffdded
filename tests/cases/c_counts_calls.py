"""Correct for its first 12 calls, then returns unwritten memory (issue 22): a fixed
number of checked calls would pass it."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls <= 12:
            return torch.sigmoid(x) * 3.0 - x
        return torch.empty_like(x)
