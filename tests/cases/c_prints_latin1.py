# Correct, but writes bytes that are not UTF-8 (a Latin-1 "café") to its stdout: kopt's
# JSON report, which carries the candidate's log, must still be written.
import sys

import torch
import torch.nn as nn

sys.stdout.buffer.write(b"caf\xe9\n")
sys.stdout.flush()


class ModelNew(nn.Module):
    def forward(self, x):
        sys.stdout.buffer.write(b"\xff\xfe forward\n")
        sys.stdout.flush()
        return 3.0 / (1.0 + torch.exp(-x)) - x
