import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        x.mul_(2.0)
        return x + 1.0
