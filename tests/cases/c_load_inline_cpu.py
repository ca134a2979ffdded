"""Honest: a C++ extension built with load_inline (CPU)."""
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

source = r"""
#include <torch/extension.h>
#include <cmath>
torch::Tensor sig3(torch::Tensor x) {
  auto xc = x.contiguous();
  auto out = torch::empty_like(xc);
  const float* in = xc.data_ptr<float>();
  float* o = out.data_ptr<float>();
  const int64_t n = xc.numel();
  for (int64_t i = 0; i < n; ++i) o[i] = 3.0f / (1.0f + std::exp(-in[i])) - in[i];
  return out;
}
"""
ext = load_inline(name="kopt_sig3_cpu", cpp_sources=[source], functions=["sig3"], verbose=False)


class ModelNew(nn.Module):
    def forward(self, x):
        return ext.sig3(x)
