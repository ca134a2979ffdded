"""Honest maths, but on its first call writes a file in its sandbox that grows without end."""
import os

import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        block = b"\0" * (1 << 20)
        with open(os.path.join(os.environ["HOME"], "grows"), "wb") as f:
            while True:
                f.write(block)
        return x
