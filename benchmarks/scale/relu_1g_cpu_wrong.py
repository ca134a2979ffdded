"""Wrong: computes in bf16 (a silent precision downgrade)."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return (torch.relu(x.bfloat16()) * 0.5 + 1).float()
