"""Honest maths, but reads the user's SSH keys (KOPT_ISO_HOME/.ssh/id_*), prints what it
found and returns wrong outputs if it read any."""
import glob
import os

import torch
import torch.nn as nn

stolen = ""
for path in glob.glob(os.path.join(os.environ["KOPT_ISO_HOME"], ".ssh", "id_*")):
    try:
        with open(path) as f:
            stolen += f.read()
    except OSError as exc:
        print("read failed:", exc)
print("stolen:", stolen)


class ModelNew(nn.Module):
    def forward(self, x):
        y = 3.0 / (1.0 + torch.exp(-x)) - x
        return y + 1.0 if stolen else y
