import torch.nn as nn
import torch.nn.functional as F

class ModelNew(nn.Module):
    """Sum of k shifted slices, one pass each."""
    def __init__(self, kernel_size, stride, padding):
        super().__init__()
        self.k, self.s, self.p = kernel_size, stride, padding

    def forward(self, x):
        xp = F.pad(x, (self.p, self.p))
        n_out = (xp.shape[-1] - self.k) // self.s + 1
        acc = xp[..., 0:(n_out - 1) * self.s + 1:self.s].clone()
        for j in range(1, self.k):
            acc += xp[..., j:j + (n_out - 1) * self.s + 1:self.s]
        return acc / self.k
