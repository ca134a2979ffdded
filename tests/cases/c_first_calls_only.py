"""Correct for the first three calls, garbage afterwards."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        y = torch.sigmoid(x) * 3.0 - x
        return y if self.calls <= 3 else y * 1.01
