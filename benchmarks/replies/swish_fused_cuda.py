"""Honest fused swish: one CUDA kernel reads x once and writes x*sigmoid(x) once
(eager runs two kernels and moves the data twice as often)."""
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

_src = r"""
#include <torch/extension.h>
__global__ void swish_kernel(const float4* __restrict__ x, float4* __restrict__ y, long n4) {
  long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
  long stride = (long)gridDim.x * blockDim.x;
  for (; i < n4; i += stride) {
    float4 v = x[i];
    float4 r;
    r.x = v.x / (1.0f + __expf(-v.x));
    r.y = v.y / (1.0f + __expf(-v.y));
    r.z = v.z / (1.0f + __expf(-v.z));
    r.w = v.w / (1.0f + __expf(-v.w));
    y[i] = r;
  }
}
torch::Tensor swish(torch::Tensor x) {
  TORCH_CHECK(x.is_cuda() && x.is_contiguous() && x.scalar_type() == torch::kFloat && x.numel() % 4 == 0);
  auto y = torch::empty_like(x);
  long n4 = x.numel() / 4;
  int threads = 256;
  int blocks = (int)std::min<long>((n4 + threads - 1) / threads, 132L * 16);
  swish_kernel<<<blocks, threads>>>((const float4*)x.data_ptr<float>(), (float4*)y.data_ptr<float>(), n4);
  return y;
}
"""
_ext = load_inline("kopt_bench_swish", cpp_sources="torch::Tensor swish(torch::Tensor x);",
                   cuda_sources=_src, functions=["swish"], verbose=False)


class ModelNew(nn.Module):
    def forward(self, x):
        return _ext.swish(x.contiguous())
