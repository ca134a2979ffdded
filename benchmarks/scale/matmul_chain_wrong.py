"""Wrong: TF32 matmul (a silent precision downgrade)."""
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
        torch.backends.cuda.matmul.allow_tf32 = True
        x = self.matmul(x.bfloat16().float()) * self.k
        x = torch.logsumexp(x.clamp(self.lo, self.hi), dim=1, keepdim=True)
        return x * F.mish(x)
