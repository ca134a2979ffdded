"""Faulty: a C++ extension (load_inline) that includes a header no machine has: the build
fails, and the verdict's reason must name the missing header, not only ninja's last line."""
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

source = r"""
#include <torch/extension.h>
#include <kopt_no_such_header.h>
torch::Tensor twice(torch::Tensor x) { return x * 2; }
"""
ext = load_inline(name="kopt_missing_header", cpp_sources=[source], functions=["twice"], verbose=False)


class ModelNew(nn.Module):
    def forward(self, x):
        return ext.twice(x)
