# Candidate 0003 of the logsumexp_rows quality run (twelfth session, H200): written by an
# LLM-style writer from kopt's refine prompt; kept here as the candidate of head_probe.sh.
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

_cpp_src = r"""
#include <torch/extension.h>
torch::Tensor lse_rows(torch::Tensor x);
"""

_cuda_src = r"""
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAException.h>
#include <cuda_runtime.h>
#include <stdint.h>

#define L2E 1.4426950408889634f

__device__ __forceinline__ float ex2f_(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

__device__ __forceinline__ float neg_inf_() { return __int_as_float(0xff800000); }

__device__ __forceinline__ void combine_(float& m, float& s, float om, float os) {
    float nm = fmaxf(m, om);
    float ref = (fabsf(nm) == __int_as_float(0x7f800000)) ? 0.f : nm;
    s = s * ex2f_((m - ref) * L2E) + os * ex2f_((om - ref) * L2E);
    m = nm;
}

__device__ __forceinline__ void cp_async16(unsigned saddr, const void* g) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" :: "r"(saddr), "l"(g) : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" :: "n"(N) : "memory");
}

// ---------------------------------------------------------------------------
// Persistent, cp.async-pipelined kernel (row length % 4 == 0, 16B aligned).
// Each thread streams its own float4 slots through an S-stage smem ring; a
// "group" is G float4 per thread (G*THREADS float4 of one row).
// ---------------------------------------------------------------------------
template <int THREADS, int G>
__device__ __forceinline__ void issue_group(const float4* __restrict__ x4, long long rows,
                                            int n4, int gpr, long long stride,
                                            long long& p_row, int& p_g,
                                            unsigned saddr, int tid) {
    if (p_row < rows) {
        const float4* src = x4 + p_row * (long long)n4;
        const int base = p_g * (THREADS * G) + tid;
#pragma unroll
        for (int u = 0; u < G; ++u) {
            const int idx = base + u * THREADS;
            if (idx < n4) cp_async16(saddr + (unsigned)(u * THREADS * 16), src + idx);
        }
        if (++p_g == gpr) { p_g = 0; p_row += stride; }
    }
    cp_async_commit();
}

template <int THREADS, int G, int S>
__global__ void __launch_bounds__(THREADS, 3)
lse_pipe_kernel(const float4* __restrict__ x4, float* __restrict__ out,
                long long rows, int n4, int gpr) {
    extern __shared__ float4 pbuf[];
    constexpr int NW = THREADS / 32;
    __shared__ float red_m[2][NW];
    __shared__ float red_s[2][NW];

    const int tid = threadIdx.x;
    const int lane = tid & 31;
    const int warp = tid >> 5;
    const float NEG = neg_inf_();
    const long long first = blockIdx.x;
    const long long stride = gridDim.x;
    if (first >= rows) return;  // uniform per block
    const long long nrows_b = (rows - 1 - first) / stride + 1;
    const long long T = nrows_b * (long long)gpr;

    const unsigned sbase = (unsigned)__cvta_generic_to_shared(pbuf) + (unsigned)tid * 16u;
    constexpr unsigned STAGE_BYTES = (unsigned)(G * THREADS * 16);

    long long p_row = first;
    int p_g = 0;
    int p_slot = 0;
#pragma unroll 1
    for (int st = 0; st < S - 1; ++st) {
        issue_group<THREADS, G>(x4, rows, n4, gpr, stride, p_row, p_g,
                                sbase + (unsigned)p_slot * STAGE_BYTES, tid);
        p_slot = (p_slot + 1 == S) ? 0 : p_slot + 1;
    }

    long long c_row = first;
    int c_g = 0;
    int c_slot = 0;
    int par = 0;
    float m = NEG, s = 0.f;

#pragma unroll 1
    for (long long t = 0; t < T; ++t) {
        cp_async_wait<S - 2>();  // group t has landed (for this thread)
        float4 v[G];
        const float4* sp = pbuf + c_slot * (G * THREADS) + tid;
        const int cbase = c_g * (THREADS * G) + tid;
#pragma unroll
        for (int u = 0; u < G; ++u) {
            v[u] = (cbase + u * THREADS < n4) ? sp[u * THREADS]
                                              : make_float4(NEG, NEG, NEG, NEG);
        }
        // refill the slot consumed in the previous iteration
        issue_group<THREADS, G>(x4, rows, n4, gpr, stride, p_row, p_g,
                                sbase + (unsigned)p_slot * STAGE_BYTES, tid);
        p_slot = (p_slot + 1 == S) ? 0 : p_slot + 1;
        c_slot = (c_slot + 1 == S) ? 0 : c_slot + 1;

        float cm = NEG;
#pragma unroll
        for (int u = 0; u < G; ++u)
            cm = fmaxf(cm, fmaxf(fmaxf(v[u].x, v[u].y), fmaxf(v[u].z, v[u].w)));
        const float nm = fmaxf(m, cm);
        const float ref = (fabsf(nm) == __int_as_float(0x7f800000)) ? 0.f : nm;
        const float acc = s * ex2f_((m - ref) * L2E);
        float a0 = 0.f, a1 = 0.f, a2 = 0.f, a3 = 0.f;
#pragma unroll
        for (int u = 0; u < G; ++u) {
            a0 += ex2f_((v[u].x - ref) * L2E);
            a1 += ex2f_((v[u].y - ref) * L2E);
            a2 += ex2f_((v[u].z - ref) * L2E);
            a3 += ex2f_((v[u].w - ref) * L2E);
        }
        s = acc + ((a0 + a1) + (a2 + a3));
        m = nm;

        if (++c_g == gpr) {
            // block reduction for row c_row (double-buffered smem by parity)
#pragma unroll
            for (int off = 16; off > 0; off >>= 1) {
                float om = __shfl_xor_sync(0xffffffffu, m, off);
                float os = __shfl_xor_sync(0xffffffffu, s, off);
                combine_(m, s, om, os);
            }
            if (lane == 0) { red_m[par][warp] = m; red_s[par][warp] = s; }
            __syncthreads();
            if (warp == 0) {
                float mm = (lane < NW) ? red_m[par][lane] : NEG;
                float ss = (lane < NW) ? red_s[par][lane] : 0.f;
#pragma unroll
                for (int off = 16; off > 0; off >>= 1) {
                    float om = __shfl_xor_sync(0xffffffffu, mm, off);
                    float os = __shfl_xor_sync(0xffffffffu, ss, off);
                    combine_(mm, ss, om, os);
                }
                if (lane == 0) out[c_row] = mm + logf(ss);
            }
            par ^= 1;
            m = NEG;
            s = 0.f;
            c_g = 0;
            c_row += stride;
        }
    }
    cp_async_wait<0>();
}

// ---------------------------------------------------------------------------
// Fallback kernels (from the verified previous candidate).
// ---------------------------------------------------------------------------
template <int THREADS>
__device__ __forceinline__ void block_finish_(float m, float s, float* __restrict__ out) {
    constexpr int NW = THREADS / 32;
    __shared__ float sm_m[NW];
    __shared__ float sm_s[NW];
    const int tid = threadIdx.x;
    const int lane = tid & 31;
    const int warp = tid >> 5;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        float om = __shfl_xor_sync(0xffffffffu, m, off);
        float os = __shfl_xor_sync(0xffffffffu, s, off);
        combine_(m, s, om, os);
    }
    if (NW == 1) {
        if (lane == 0) out[blockIdx.x] = m + logf(s);
        return;
    }
    if (lane == 0) { sm_m[warp] = m; sm_s[warp] = s; }
    __syncthreads();
    if (warp == 0) {
        m = (lane < NW) ? sm_m[lane] : neg_inf_();
        s = (lane < NW) ? sm_s[lane] : 0.f;
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
            float om = __shfl_xor_sync(0xffffffffu, m, off);
            float os = __shfl_xor_sync(0xffffffffu, s, off);
            combine_(m, s, om, os);
        }
        if (lane == 0) out[blockIdx.x] = m + logf(s);
    }
}

template <int THREADS, int UNROLL, int MINB>
__global__ void __launch_bounds__(THREADS, MINB)
lse_vec4_kernel(const float* __restrict__ x, float* __restrict__ out, int n) {
    const int tid = threadIdx.x;
    const float4* __restrict__ p =
        reinterpret_cast<const float4*>(x + (size_t)blockIdx.x * (size_t)n);
    const int n4 = n >> 2;
    const float NEG = neg_inf_();
    float m = NEG, s = 0.f;
    for (int base = 0; base < n4; base += THREADS * UNROLL) {
        float4 v[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; ++u) {
            int idx = base + u * THREADS + tid;
            v[u] = (idx < n4) ? __ldcs(p + idx) : make_float4(NEG, NEG, NEG, NEG);
        }
        float cm = NEG;
#pragma unroll
        for (int u = 0; u < UNROLL; ++u)
            cm = fmaxf(cm, fmaxf(fmaxf(v[u].x, v[u].y), fmaxf(v[u].z, v[u].w)));
        float nm = fmaxf(m, cm);
        float ref = (fabsf(nm) == __int_as_float(0x7f800000)) ? 0.f : nm;
        float acc = s * ex2f_((m - ref) * L2E);
        float a0 = 0.f, a1 = 0.f, a2 = 0.f, a3 = 0.f;
#pragma unroll
        for (int u = 0; u < UNROLL; ++u) {
            a0 += ex2f_((v[u].x - ref) * L2E);
            a1 += ex2f_((v[u].y - ref) * L2E);
            a2 += ex2f_((v[u].z - ref) * L2E);
            a3 += ex2f_((v[u].w - ref) * L2E);
        }
        s = acc + ((a0 + a1) + (a2 + a3));
        m = nm;
    }
    block_finish_<THREADS>(m, s, out);
}

template <int THREADS, int UNROLL>
__global__ void __launch_bounds__(THREADS)
lse_scalar_kernel(const float* __restrict__ x, float* __restrict__ out, int n) {
    const int tid = threadIdx.x;
    const float* __restrict__ p = x + (size_t)blockIdx.x * (size_t)n;
    const float NEG = neg_inf_();
    float m = NEG, s = 0.f;
    for (int base = 0; base < n; base += THREADS * UNROLL) {
        float v[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; ++u) {
            int idx = base + u * THREADS + tid;
            v[u] = (idx < n) ? __ldcs(p + idx) : NEG;
        }
        float cm = NEG;
#pragma unroll
        for (int u = 0; u < UNROLL; ++u) cm = fmaxf(cm, v[u]);
        float nm = fmaxf(m, cm);
        float ref = (fabsf(nm) == __int_as_float(0x7f800000)) ? 0.f : nm;
        float acc = s * ex2f_((m - ref) * L2E);
        float a0 = 0.f, a1 = 0.f;
#pragma unroll
        for (int u = 0; u < UNROLL; u += 2) {
            a0 += ex2f_((v[u] - ref) * L2E);
            if (u + 1 < UNROLL) a1 += ex2f_((v[u + 1] - ref) * L2E);
        }
        s = acc + (a0 + a1);
        m = nm;
    }
    block_finish_<THREADS>(m, s, out);
}

constexpr int PT = 256;   // threads per block
constexpr int PG = 4;     // float4 per thread per stage
constexpr int PS = 4;     // pipeline stages

static int g_occ_cache[64] = {0};

static int pipe_blocks_per_sm(int dev) {
    const size_t smem = (size_t)PS * PG * PT * sizeof(float4);
    if (dev >= 0 && dev < 64 && g_occ_cache[dev] != 0) return g_occ_cache[dev];
    auto kfn = lse_pipe_kernel<PT, PG, PS>;
    C10_CUDA_CHECK(cudaFuncSetAttribute(kfn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    int nb = 0;
    C10_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&nb, kfn, PT, smem));
    if (nb <= 0) nb = 1;
    if (dev >= 0 && dev < 64) g_occ_cache[dev] = nb;
    return nb;
}

torch::Tensor lse_rows(torch::Tensor x) {
    TORCH_CHECK(x.is_cuda(), "x must be CUDA");
    TORCH_CHECK(x.scalar_type() == at::kFloat, "x must be float32");
    TORCH_CHECK(x.dim() >= 1, "x must have at least 1 dim");
    c10::cuda::CUDAGuard guard(x.device());
    auto xc = x.contiguous();
    const int64_t n = xc.size(-1);
    auto sizes = xc.sizes().vec();
    sizes.pop_back();
    auto out = torch::empty(sizes, xc.options());
    if (n == 0) return out;
    const int64_t rows = xc.numel() / n;
    if (rows == 0) return out;
    TORCH_CHECK(n < (int64_t)(INT32_MAX / 2), "row too long");
    cudaStream_t stream = at::cuda::getCurrentCUDAStream();
    const float* p = xc.data_ptr<float>();
    float* o = out.data_ptr<float>();
    const bool vec = ((n & 3) == 0) && ((reinterpret_cast<uintptr_t>(p) & 15) == 0);
    const int64_t n4 = n >> 2;

    if (vec && n4 >= 1024) {
        const int dev = xc.get_device();
        const int nb = pipe_blocks_per_sm(dev);
        const int sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
        int64_t grid = (int64_t)sms * (int64_t)nb;
        if (grid > rows) grid = rows;
        if (grid < 1) grid = 1;
        const int gpr = (int)((n4 + (int64_t)(PT * PG) - 1) / (int64_t)(PT * PG));
        const size_t smem = (size_t)PS * PG * PT * sizeof(float4);
        lse_pipe_kernel<PT, PG, PS><<<(unsigned)grid, PT, smem, stream>>>(
            reinterpret_cast<const float4*>(p), o, (long long)rows, (int)n4, gpr);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        return out;
    }

    TORCH_CHECK(rows <= (int64_t)INT32_MAX, "too many rows");
    dim3 grid((unsigned)rows);
    if (vec) {
        if (n4 >= 2048) {
            lse_vec4_kernel<512, 8, 2><<<grid, 512, 0, stream>>>(p, o, (int)n);
        } else {
            lse_vec4_kernel<128, 4, 8><<<grid, 128, 0, stream>>>(p, o, (int)n);
        }
    } else {
        if (n >= 4096) {
            lse_scalar_kernel<256, 16><<<grid, 256, 0, stream>>>(p, o, (int)n);
        } else {
            lse_scalar_kernel<128, 8><<<grid, 128, 0, stream>>>(p, o, (int)n);
        }
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return out;
}
"""

_ext = load_inline(
    name="lse_rows_pipe_ext_v3",
    cpp_sources=_cpp_src,
    cuda_sources=_cuda_src,
    functions=["lse_rows"],
    extra_cuda_cflags=["-O3"],
    verbose=False,
)


class ModelNew(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        d = self.dim
        if (
            isinstance(d, int)
            and x.is_cuda
            and x.dtype == torch.float32
            and x.dim() >= 1
            and x.numel() > 0
        ):
            nd = x.dim()
            if -nd <= d < nd and (d % nd) == nd - 1:
                return _ext.lse_rows(x)
        return torch.logsumexp(x, dim=d)
