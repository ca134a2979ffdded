"""Honest maths, but on its first call allocates GPU memory until torch refuses, and
prints how much it got."""
import torch
import torch.nn as nn

hoard = []


class ModelNew(nn.Module):
    def forward(self, x):
        if not hoard:
            try:
                while True:
                    hoard.append(torch.empty(1 << 28, dtype=torch.uint8, device=x.device))
            except RuntimeError as exc:
                print("kopt_iso_gpu_bytes", len(hoard) << 28, "of", torch.cuda.get_device_properties(0).total_memory)
                print("refused:", str(exc).splitlines()[0])
            hoard.append(None)
        return 3.0 / (1.0 + torch.exp(-x)) - x
