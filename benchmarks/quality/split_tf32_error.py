"""Does 3xTF32 (the split-tf32 idea, prompts/ideas.json) pass kopt's error bound? A CPU
emulation: TF32 products are fp32 products of operands rounded to TF32 (10-bit mantissa),
accumulated in fp32 (tensor cores accumulate in fp32 too; their rounding of the running
sum may differ). Prints each scheme's normwise and largest elementwise error against the
float64 product, as a multiple of the fp32 product's own error: kopt's bound is 16x
(DESIGN.md, "what correct means"). Run: /usr/bin/python3 benchmarks/quality/split_tf32_error.py
"""
import sys

import torch


def tf32_nearest(x):
    return ((x.view(torch.int32) + 4096) & -8192).view(torch.float32)


def tf32_truncated(x):
    return (x.view(torch.int32) & -8192).view(torch.float32)


def errors(c, r32, r64):
    normwise = ((c.double() - r64).norm() / (r32.double() - r64).norm()).item()
    largest = ((c.double() - r64).abs().max() / (r32.double() - r64).abs().max()).item()
    return normwise, largest


def main():
    torch.manual_seed(0)
    m, k, n = (int(v) for v in (sys.argv[1:4] if len(sys.argv) >= 4 else (512, 4096, 512)))
    print(f"A {m}x{k} @ B {k}x{n}, float32; error / the fp32 product's error (normwise, largest element)")
    for scale, shift in ((1.0, 0.0), (8.0, 0.0), (0.125, 0.0), (1.0, 3.0)):
        a = torch.randn(m, k) * scale + shift
        b = torch.randn(k, n) / 64
        r64 = a.double() @ b.double()
        r32 = a @ b
        hi_a, hi_b = tf32_nearest(a), tf32_nearest(b)
        lo_a, lo_b = a - hi_a, b - hi_b
        rows = [("plain TF32 (one product)", hi_a @ hi_b)]
        for name, cast in (("3xTF32, remainders rounded", tf32_nearest), ("3xTF32, remainders truncated", tf32_truncated)):
            rows.append((name, cast(hi_a) @ cast(hi_b) + (cast(hi_a) @ cast(lo_b) + cast(lo_a) @ cast(hi_b))))
        # kopt's builtin split-tf32 engine: the high parts truncated too (one pass fewer).
        th_a, th_b = tf32_truncated(a), tf32_truncated(b)
        tl_a, tl_b = a - th_a, b - th_b
        rows.append(("3xTF32, all truncated (builtin)", tf32_truncated(th_a) @ tf32_truncated(th_b) +
                     (th_a @ tf32_truncated(tl_b) + tf32_truncated(tl_a) @ th_b)))
        for name, c in rows:
            normwise, largest = errors(c, r32, r64)
            print(f"  inputs x{scale:<5} +{shift:<3} {name:32} {normwise:8.2f}x {largest:8.2f}x")


if __name__ == "__main__":
    main()
