import torch
import torch.nn as nn
import torch.nn.functional as F

class ModelNew(nn.Module):
    """Window sums from a float64 prefix sum (exact enough, another order)."""
    def __init__(self, kernel_size, stride, padding):
        super().__init__()
        self.k, self.s, self.p = kernel_size, stride, padding

    def forward(self, x):
        xp = F.pad(x, (self.p, self.p))
        c = F.pad(torch.cumsum(xp.double(), dim=-1), (1, 0))
        n_out = (xp.shape[-1] - self.k) // self.s + 1
        idx = torch.arange(n_out, device=x.device) * self.s
        return ((c[..., idx + self.k] - c[..., idx]) / self.k).to(x.dtype)
