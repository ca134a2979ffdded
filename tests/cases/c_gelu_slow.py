"""Correct but slower: the same Linear + GELU, with the matmul computed eight times."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        y = self.linear(x)
        for _ in range(7):
            y = self.linear(x)
        return torch.nn.functional.gelu(y)
