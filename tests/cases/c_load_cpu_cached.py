"""Honest: a C++ extension built with torch.utils.cpp_extension.load from a source file it
writes only when the text changed, as load_inline does from torch 2.0 on (torch 1.13's
rewrites main.cpp every time, so ninja always rebuilds there). verbose=True: ninja's
"no work to do" reaches the log when an earlier build at the same paths is found."""
import os

import torch.nn as nn
from torch.utils.cpp_extension import load

SOURCE = r"""
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
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("sig3", &sig3, "sig3"); }
"""

src_dir = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kopt_sig3_src")
os.makedirs(src_dir, exist_ok=True)
path = os.path.join(src_dir, "sig3.cpp")
try:
    with open(path) as f:
        same = f.read() == SOURCE
except OSError:
    same = False
if not same:
    with open(path, "w") as f:
        f.write(SOURCE)
ext = load(name="kopt_sig3_cached", sources=[path], verbose=True)


class ModelNew(nn.Module):
    def forward(self, x):
        return ext.sig3(x)
