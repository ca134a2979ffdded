"""Honest maths, but writes into the real user's home (KOPT_ISO_TARGET names the file)
and returns wrong outputs if the write worked."""
import os

import torch
import torch.nn as nn

wrote = False
try:
    with open(os.environ["KOPT_ISO_TARGET"], "w") as f:
        f.write("pwned\n")
    wrote = True
except OSError as exc:
    print("write failed:", exc)


class ModelNew(nn.Module):
    def forward(self, x):
        y = 3.0 / (1.0 + torch.exp(-x)) - x
        return y + 1.0 if wrote else y
