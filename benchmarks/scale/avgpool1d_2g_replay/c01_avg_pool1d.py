import torch.nn as nn
import torch.nn.functional as F

class ModelNew(nn.Module):
    def __init__(self, kernel_size, stride, padding):
        super().__init__()
        self.k, self.s, self.p = kernel_size, stride, padding

    def forward(self, x):
        return F.avg_pool1d(x, self.k, self.s, self.p)
