"""Honest maths, but looks through its open descriptors for a file kopt's caller had
open (tests name it kopt-fd-marker) and returns wrong outputs if one reached it."""
import os

import torch
import torch.nn as nn

inherited = []
for fd in os.listdir("/proc/self/fd"):
    try:
        target = os.readlink("/proc/self/fd/" + fd)
    except OSError:
        continue
    if "kopt-fd-marker" in target:
        inherited.append(int(fd))
print("inherited descriptors:", inherited)


class ModelNew(nn.Module):
    def forward(self, x):
        y = 3.0 / (1.0 + torch.exp(-x)) - x
        return y + 1.0 if inherited else y
