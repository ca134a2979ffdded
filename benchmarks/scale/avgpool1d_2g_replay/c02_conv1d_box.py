"""AvgPool1d as a cumulative-free convolution with a box filter (another summation order)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class ModelNew(nn.Module):
    def __init__(self, kernel_size, stride, padding):
        super().__init__()
        self.k, self.s, self.p = kernel_size, stride, padding

    def forward(self, x):
        n, c, length = x.shape
        w = torch.full((1, 1, self.k), 1.0 / self.k, device=x.device, dtype=x.dtype)
        y = F.conv1d(x.reshape(n * c, 1, length), w, stride=self.s, padding=self.p)
        return y.reshape(n, c, -1)
