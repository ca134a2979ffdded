import torch.nn as nn
import torch.nn.functional as F

class ModelNew(nn.Module):
    def __init__(self, kernel_size, stride, padding):
        super().__init__()
        self.k, self.s, self.p = kernel_size, stride, padding

    def forward(self, x):
        return F.pad(x, (self.p, self.p)).unfold(-1, self.k, self.s).mean(-1)
