"""A workload whose forward is killed by a SIGKILL neither kopt nor the kernel's
out-of-memory killer sent (it sends it itself): kopt must not blame the machine's memory
(w_oom_killed.py is the real killer's case)."""
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
