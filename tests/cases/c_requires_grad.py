import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        with torch.enable_grad():
            x = x.clone().requires_grad_(True)
            return torch.sigmoid(x) * 3.0 - x
