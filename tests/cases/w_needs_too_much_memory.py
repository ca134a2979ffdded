"""A workload whose forward asks for 32 TiB: the reference worker runs out of memory, which
kopt must report as that, not as a broken workload."""
import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, x):
        big = torch.empty(1 << 43, dtype=torch.float32, device=x.device)
        return x + big[: x.numel()].view_as(x)


def get_inputs():
    return [torch.randn(8, 8)]


def get_init_inputs():
    return []
