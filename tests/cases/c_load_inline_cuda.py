"""Honest: a CUDA kernel built with load_inline."""
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

cuda_source = r"""
#include <torch/extension.h>
#include <c10/cuda/CUDAException.h>
__global__ void sig3_kernel(const float* __restrict__ in, float* __restrict__ out, int64_t n) {
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) { float x = in[i]; out[i] = 3.0f / (1.0f + expf(-x)) - x; }
}
torch::Tensor sig3(torch::Tensor x) {
  TORCH_CHECK(x.is_cuda() && x.scalar_type() == torch::kFloat, "float32 CUDA tensor expected");
  auto xc = x.contiguous();
  auto out = torch::empty_like(xc);
  const int64_t n = xc.numel();
  const int threads = 256;
  const int blocks = (int)((n + threads - 1) / threads);
  sig3_kernel<<<blocks, threads>>>(xc.data_ptr<float>(), out.data_ptr<float>(), n);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}
"""
cpp_source = "torch::Tensor sig3(torch::Tensor x);"
ext = load_inline(name="kopt_sig3_cuda", cpp_sources=[cpp_source], cuda_sources=[cuda_source],
                  functions=["sig3"], extra_include_paths=[], verbose=False,
                  extra_cuda_cflags=["-O3"])


class ModelNew(nn.Module):
    def forward(self, x):
        return ext.sig3(x)
