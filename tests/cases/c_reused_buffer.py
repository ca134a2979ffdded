"""Writes every result into one tensor it keeps and returns it (issue 22): right values,
but a caller that keeps call 1's output sees it change at call 2."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.buf = None

    def forward(self, x):
        if self.buf is None or self.buf.shape != x.shape or self.buf.device != x.device:
            self.buf = torch.empty_like(x)
        torch.sigmoid(x, out=self.buf)
        self.buf.mul_(3.0).sub_(x)
        return self.buf
