"""Honest: accumulates the float32 reduction in float64."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        return x.double().sum(dim=1).float()
