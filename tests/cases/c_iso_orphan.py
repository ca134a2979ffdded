"""Honest maths, but on its first call double-forks a process that stays in the worker's
session (no setsid) and sleeps: an orphan, re-parented away from the worker, that would
outlive it."""
import ctypes
import os
import time

import torch
import torch.nn as nn

started = []


def orphan():
    pid = os.fork()
    if pid == 0:
        try:
            if os.fork() == 0:
                ctypes.CDLL(None).prctl(15, b"kopt_iso_orphan", 0, 0, 0)  # PR_SET_NAME
                time.sleep(600)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    started.append(True)


class ModelNew(nn.Module):
    def forward(self, x):
        if not started:
            orphan()
        return 3.0 / (1.0 + torch.exp(-x)) - x
