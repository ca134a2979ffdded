"""Correct while verified (and for the first 40 calls of a process), garbage afterwards:
only the outputs of timed calls, checked at positions kopt picks, can catch it."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls > 40:
            return torch.empty_like(x)  # skips the work: fast, and wrong
        return torch.sigmoid(x) * 3.0 - x
