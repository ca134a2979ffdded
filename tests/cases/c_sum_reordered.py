"""Honest: another summation order (ones @ x^T)."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        ones = torch.ones(x.shape[1], 1, device=x.device, dtype=x.dtype)
        return (x @ ones).squeeze(1)
