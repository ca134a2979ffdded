import torch
import torch.nn as nn


class Sneaky(torch.Tensor):
    pass


class ModelNew(nn.Module):
    def forward(self, x):
        return (torch.sigmoid(x) * 3.0 - x).as_subclass(Sneaky)
