import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        values, indices = torch.max(x, dim=1)
        return indices, values
