"""Wrong: one row left unnormalised."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        y = torch.softmax(x, dim=1)
        y[17] = torch.exp(x[17] - x[17].amax())
        return y
