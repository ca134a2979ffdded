"""Starts a new thread on every call."""
import threading
import time

import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        return torch.sigmoid(x) * 3.0 - x
