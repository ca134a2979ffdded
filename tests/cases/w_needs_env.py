# A workload that imports only where KOPT_TEST_WORKLOAD_OK=1 is set: stands for a machine
# that has what it needs (a GPU, a driver, a module) and one that has not.
import os

import torch
import torch.nn as nn

if os.environ.get("KOPT_TEST_WORKLOAD_OK") != "1":
    raise RuntimeError("this machine lacks what the workload needs")


class Model(nn.Module):
    def forward(self, x):
        return torch.sigmoid(x) * 3.0 - x


def get_inputs():
    return [torch.randn(64, 1000)]


def get_init_inputs():
    return []
