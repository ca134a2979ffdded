"""Right answer, but scribbles on its input."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        y = torch.sigmoid(x) * 3.0 - x
        x.zero_()
        return y
