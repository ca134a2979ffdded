import torch.nn as nn
import torch.nn.functional as F

class ModelNew(nn.Module):
    """Wrong: drops the padding."""
    def __init__(self, kernel_size, stride, padding):
        super().__init__()
        self.k, self.s, self.p = kernel_size, stride, padding

    def forward(self, x):
        y = F.avg_pool1d(x, self.k, self.s, 0)
        return F.pad(y, (self.p, self.p - 1 if self.p else 0))
