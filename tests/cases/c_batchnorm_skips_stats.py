"""Cheat: uses batch statistics but never updates the running statistics."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class ModelNew(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        y = self.conv(x)
        y = F.batch_norm(y, None, None, self.bn.weight, self.bn.bias, training=True, eps=self.bn.eps)
        return torch.relu(y)
