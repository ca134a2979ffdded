# A workload whose forward raises: nothing can be verified against it.
import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, x):
        raise ValueError("forward is broken")


def get_inputs():
    return [torch.randn(4, 4)]


def get_init_inputs():
    return []
