"""Honest: the same function, one temporary instead of two (in-place multiply and add)."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.relu(x).mul_(0.5).add_(1)
