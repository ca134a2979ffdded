import torch.nn as nn

from torch.utils.cpp_extension import load_inline

_SRC = r"""
#include <torch/extension.h>
__global__ void avgpool1d_kernel(const float* __restrict__ x, float* __restrict__ y, long rows, int L, int Lout,
                                 int k, int s, int p) {
  long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
  long total = rows * (long)Lout;
  if (i >= total) return;
  long r = i / Lout; int o = (int)(i % Lout);
  int start = o * s - p;
  const float* row = x + r * (long)L;
  float acc = 0.f;
  #pragma unroll 8
  for (int j = 0; j < k; ++j) { int t = start + j; if (t >= 0 && t < L) acc += row[t]; }
  y[i] = acc / k;
}
torch::Tensor avgpool1d(torch::Tensor x, int64_t k, int64_t s, int64_t p) {
  auto xc = x.contiguous();
  int L = xc.size(-1);
  int Lout = (L + 2 * p - k) / s + 1;
  auto sizes = xc.sizes().vec(); sizes.back() = Lout;
  auto y = torch::empty(sizes, xc.options());
  long rows = xc.numel() / L;
  long total = rows * (long)Lout;
  int threads = 256;
  avgpool1d_kernel<<<(total + threads - 1) / threads, threads>>>(xc.data_ptr<float>(), y.data_ptr<float>(), rows, L, Lout, k, s, p);
  return y;
}
"""
_ext = load_inline("kopt_avgpool1d", cpp_sources="torch::Tensor avgpool1d(torch::Tensor x, int64_t k, int64_t s, int64_t p);",
                   cuda_sources=_SRC, functions=["avgpool1d"], verbose=False)


class ModelNew(nn.Module):
    def __init__(self, kernel_size, stride, padding):
        super().__init__()
        self.k, self.s, self.p = kernel_size, stride, padding

    def forward(self, x):
        return _ext.avgpool1d(x, self.k, self.s, self.p)
