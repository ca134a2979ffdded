#!/usr/bin/env python3
"""The device comparer's rules (src/harness/kopt_compare.py) on the CPU: figures against
plain whole-tensor formulas, the same verdict and figures whatever the chunk size, and
each failure kind. The comparer runs only on CUDA in kopt; the maths is torch's on
either device. Exit 77 (skipped) without torch.

Usage: compare_check.py HARNESS_DIR
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_lib import check, finish  # noqa: E402 (skips without torch; the harness on the path)

import torch  # noqa: E402
import kopt_compare  # noqa: E402


def close(a, b, rel=1e-9):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


def case(seed, n, noise):
    g = torch.Generator().manual_seed(seed)
    r64 = torch.randn(n, generator=g, dtype=torch.float64)
    r32 = r64.float()
    c = (r64 + noise * torch.randn(n, generator=g, dtype=torch.float64)).float()
    return c, r32, r64


def run(c, r32, r64, chunk, **opts):
    saved = kopt_compare.CHUNK
    kopt_compare.CHUNK = chunk
    try:
        return kopt_compare.compare(c, r32, r64, opts)
    finally:
        kopt_compare.CHUNK = saved


# 1. Figures of an honest candidate against whole-tensor formulas.
c, r32, r64 = case(1, 100003, 1e-7)
res = run(c, r32, r64, 1 << 25)
fig = res["figures"]
d, e = (c.double() - r64).abs(), (r32.double() - r64).abs()
check(res["ok"], "an honest candidate passes: %s" % res["detail"])
check(close(fig["norm_error"], float(d.norm())), "norm_error %r vs %r" % (fig["norm_error"], float(d.norm())))
check(close(fig["norm_ref_error"], float(e.norm())), "norm_ref_error")
check(close(fig["max_abs_error"], float(d.max())), "max_abs_error")
check(close(fig["max_ref_abs_error"], float(e.max())), "max_ref_abs_error")
check(fig["elements_compared"] == 100003, "elements_compared %d" % fig["elements_compared"])
u = 2.0 ** -24
bound = max(16.0 * float(e.norm()), 64.0 * u * float(r64.norm()))
check(close(fig["norm_bound"], bound), "norm_bound %r vs %r" % (fig["norm_bound"], bound))
a, b = 64.0 * float(e.max()), 64.0 * u
ratio = float((d / (a + b * r64.abs())).max())
check(close(fig["elem_ratio"], ratio), "elem_ratio %r vs %r" % (fig["elem_ratio"], ratio))

# 2. The same verdict and figures whatever the chunk size, failing cases included.
special = case(2, 50001, 1e-7)
special[0][10] = float("nan")
bad_inf = case(3, 50001, 1e-7)
bad_inf[1][7] = float("inf")
bad_inf[2][7] = float("inf")
bad_inf[0][7] = 5.0
overflow_ok = case(4, 50001, 1e-7)
overflow_ok[1][3] = float("inf")  # fp32 overflowed, fp64 finite: compared against fp64
ref_nan = case(5, 50001, 1e-7)
ref_nan[1][9] = float("nan")
ref_nan[2][9] = float("nan")
one_off = case(6, 50001, 1e-7)
one_off[0][123] += 1e-4  # under the normwise limit, over the elementwise one
wrong = case(7, 50001, 1e-2)
for name, (c, r32, r64), opts in [("honest", case(8, 50001, 1e-7), {}),
                                  ("nan", special, {}), ("nan, stress", special, {"stress": True}),
                                  ("inf mismatch", bad_inf, {}), ("fp32 overflow", overflow_ok, {}),
                                  ("reference nan", ref_nan, {}), ("one element off", one_off, {}),
                                  ("wrong", wrong, {}), ("fp32 only", wrong, {"fp32_only": True}),
                                  ("bf16 precision", wrong, {"precision": "bf16"})]:
    whole = run(c, r32, r64, 1 << 25, **opts)
    chunked = run(c, r32, r64, 997, **opts)
    check(whole["ok"] == chunked["ok"] and whole["check"] == chunked["check"],
          "%s: %s/%s vs %s/%s" % (name, whole["ok"], whole["check"], chunked["ok"], chunked["check"]))
    for k, v in whole["figures"].items():
        check(close(v, chunked["figures"][k]) if isinstance(v, float) else v == chunked["figures"][k],
              "%s: figure %s %r vs %r chunked" % (name, k, v, chunked["figures"][k]))

# 3. Each failure kind, as compare.cpp words it.
expect = {
    "nan": (False, "finite", "1 of 50001 elements are NaN or Inf where the reference is finite"),
    "nan, stress": (False, "finite", "1 non-finite elements where both references are finite"),
    "inf mismatch": (False, "finite", "1 elements differ where the reference is infinite"),
    "reference nan": (False, "finite", "1 elements are not NaN where the reference is NaN"),
    "one element off": (False, "elementwise", "1 of 50001 elements beyond the elementwise limit"),
    "wrong": (False, "normwise", "normwise error"),
}
runs = {"nan": (special, {}), "nan, stress": (special, {"stress": True}), "inf mismatch": (bad_inf, {}),
        "reference nan": (ref_nan, {}), "one element off": (one_off, {}), "wrong": (wrong, {})}
for name, (ok, rule, words) in expect.items():
    (c, r32, r64), opts = runs[name]
    res = run(c, r32, r64, 997, **opts)
    check(res["ok"] == ok and res["check"] == rule and words in res["detail"],
          "%s: %s %s %r" % (name, res["ok"], res["check"], res["detail"]))
res = run(*overflow_ok, 997)
check(res["ok"], "an fp32 overflow where fp64 is finite is compared against fp64: %r" % res["detail"])

# 4. The all-finite pass (FAST) gives the general pass's verdict and figures, bit for bit,
# where every element is finite; where one is not it hands over to the general pass.
def both(c, r32, r64, chunk, **opts):
    kopt_compare.FAST = False
    try:
        general = run(c, r32, r64, chunk, **opts)
    finally:
        kopt_compare.FAST = True
    return general, run(c, r32, r64, chunk, **opts)


half = case(9, 40001, 1e-3)
half = (half[0].half(), half[1].half(), half[2])  # a float16 output: its own unit roundoff
huge = case(10, 40001, 1e-7)
huge[2][5] = 1e300  # a finite float64 reference whose square overflows: the general pass decides
took_fast = []
_finite_sums = kopt_compare.Walker._finite_sums


def counting(self, c, a, b):
    out = _finite_sums(self, c, a, b)
    took_fast.append(out is not None)
    return out


kopt_compare.Walker._finite_sums = counting
for name, (c, r32, r64), opts in [("honest", case(8, 50001, 1e-7), {}), ("stress", case(8, 50001, 1e-7), {"stress": True}),
                                  ("one element off", one_off, {}), ("wrong", wrong, {}),
                                  ("fp32 only", wrong, {"fp32_only": True}), ("bf16 precision", wrong, {"precision": "bf16"}),
                                  ("float16 output", half, {}), ("reference overflows when squared", huge, {}),
                                  ("nan", special, {}), ("fp32 overflow", overflow_ok, {})]:
    for chunk in (1 << 25, 997):
        general, fast = both(c, r32, r64, chunk, **opts)
        check(general["ok"] == fast["ok"] and general["check"] == fast["check"] and general["detail"] == fast["detail"],
              "%s (chunk %d): general %s/%s/%r, fast %s/%s/%r" % (name, chunk, general["ok"], general["check"],
                                                                 general["detail"], fast["ok"], fast["check"], fast["detail"]))
        for k, v in general["figures"].items():
            same = (math.isnan(v) and math.isnan(fast["figures"][k])) if isinstance(v, float) and math.isnan(v) else v == fast["figures"][k]
            check(same, "%s (chunk %d): figure %s general %r, fast %r" % (name, chunk, k, v, fast["figures"][k]))
        finite = name not in ("reference overflows when squared", "nan", "fp32 overflow")
        check(took_fast[-1] == finite, "%s: the all-finite pass %s" % (name, "not taken" if finite else "taken"))
kopt_compare.Walker._finite_sums = _finite_sums

finish("compare_check")
