import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        return 3.0 / (1.0 + torch.exp(-x)) - x
