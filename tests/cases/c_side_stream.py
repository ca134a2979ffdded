"""Honest result, computed on a side stream (work must still count and be waited for)."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        if not x.is_cuda:
            return torch.sigmoid(x) * 3.0 - x
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            y = torch.sigmoid(x) * 3.0 - x
        torch.cuda.current_stream().wait_stream(s)
        return y
