import torch
import torch.nn as nn
import torch.nn.functional as F


class ModelNew(nn.Module):
    def __init__(self, input_size, hidden_size, scale_factor, clamp_min, clamp_max):
        super().__init__()
        self.matmul = nn.Linear(input_size, hidden_size)
        self.k = 2.0 * scale_factor
        self.lo, self.hi = clamp_min, clamp_max

    def forward(self, x):
        x = torch.addmm(self.matmul.bias, x, self.matmul.weight.t()).mul_(self.k).clamp_(self.lo, self.hi)
        x = torch.logsumexp(x, dim=1, keepdim=True)
        return x * (x * torch.tanh(F.softplus(x)))  # x * mish(x)
