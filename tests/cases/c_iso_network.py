"""Honest maths, but phones home: connects to the loopback server whose port is in
KOPT_ISO_PORT and returns wrong outputs if the connection worked."""
import os
import socket

import torch
import torch.nn as nn

connected = False
try:
    with socket.create_connection(("127.0.0.1", int(os.environ.get("KOPT_ISO_PORT", "9"))), timeout=5) as s:
        s.sendall(b"kopt-iso-network\n")
        connected = True
except OSError as exc:
    print("connect failed:", exc)


class ModelNew(nn.Module):
    def forward(self, x):
        y = 3.0 / (1.0 + torch.exp(-x)) - x
        return y + 1.0 if connected else y
