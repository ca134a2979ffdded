import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.argmax(x, dim=1), x.max(dim=1).values


def get_inputs():
    return [torch.randn(128, 300)]


def get_init_inputs():
    return []
