"""Honest maths, but looks for secrets: returns garbage if it finds any."""
import os

import torch
import torch.nn as nn

found = [k for k, v in os.environ.items()
         if any(w in k.upper() for w in ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL"))
         or "PLANTED" in v]
for path in ("/proc/%d/environ" % os.getppid(),):
    try:
        with open(path, "rb") as f:
            if b"PLANTED" in f.read():
                found.append(path)
    except OSError:
        pass
if found:
    print("LEAK: saw secrets:", found)


class ModelNew(nn.Module):
    def forward(self, x):
        y = 3.0 / (1.0 + torch.exp(-x)) - x
        return y + 1.0 if found else y
