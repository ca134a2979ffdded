# Correct for w_elementwise.py but slow: each forward prints a line and sleeps 60 s, so a
# test can interrupt kopt while this candidate's trials run.
import sys
import time

import torch
import torch.nn as nn

print("c_elementwise_sleeps: imported", flush=True)


class ModelNew(nn.Module):
    def forward(self, x):
        print("c_elementwise_sleeps: forward sleeps 60 s", flush=True)
        sys.stderr.flush()
        time.sleep(60)
        return torch.sigmoid(x) * 3.0 - x
