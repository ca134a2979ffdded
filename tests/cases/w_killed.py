"""A workload whose forward is killed by a SIGKILL kopt did not send, as the kernel's
out-of-memory killer kills a process (provoking the real killer would take the machine's
memory): kopt must say the machine ran out of memory, not that the workload is broken."""
import os
import signal

import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, x):
        os.kill(os.getpid(), signal.SIGKILL)
        return x


def get_inputs():
    return [torch.randn(16)]


def get_init_inputs():
    return []
