"""kopt worker harness: the comparison where the data is (trusted; reference role only).

The same rules, limits and messages as kopt's C++ comparison (src/verify/compare.cpp),
evaluated with torch in float64 on the device that holds the tensors, a chunk at a time so
that a 6 GiB output needs only a few chunk-sized temporaries. The candidate's outputs are
private copies (copied out of the candidate's memory before this runs); only figures, a
verdict and a message leave this module.

Kept in step with compare.cpp: tests/integration run the same cases through both paths.
"""

import math

import torch

# Elements per chunk: three float64 chunks of 2^25 elements are 768 MiB of temporaries.
CHUNK = 1 << 25
# The all-finite pass (Walker._finite_sums); tests turn it off to compare with the general one.
FAST = True
_TINY = 2.2250738585072014e-308  # DBL_MIN: the ratio's divisor stays above zero


def unit_roundoff(name):
    if name == "float64":
        return 2.0 ** -53
    if name in ("float16", "fp16", "tf32"):
        return 2.0 ** -11
    if name in ("bfloat16", "bf16"):
        return 2.0 ** -8
    return 2.0 ** -24


_DTYPE_NAMES = {torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float32: "float32",
                torch.float64: "float64", torch.int8: "int8", torch.uint8: "uint8", torch.int16: "int16",
                torch.int32: "int32", torch.int64: "int64", torch.bool: "bool"}


def dtype_text(dt):
    return _DTYPE_NAMES.get(dt, str(dt).replace("torch.", ""))


def fmt_g(x):
    """C++ ostream with precision 3, as compare.cpp prints figures."""
    if isinstance(x, float) and math.isnan(x):
        return "nan" if math.copysign(1.0, x) > 0 else "-nan"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return "%.3g" % x


def new_figures():
    return {"norm_error": 0.0, "norm_ref_error": 0.0, "norm_bound": 0.0, "norm_ratio": 0.0,
            "max_abs_error": 0.0, "max_ref_abs_error": 0.0, "elem_ratio": 0.0, "elements_over": 0,
            "elements_compared": 0, "ties": 0, "fp32_fallback": False}


def merge_figures(g, f):
    if f["norm_ratio"] >= g["norm_ratio"] or math.isnan(f["norm_ratio"]):
        for k in ("norm_error", "norm_ref_error", "norm_bound", "norm_ratio"):
            g[k] = f[k]
    if f["elem_ratio"] >= g["elem_ratio"] or math.isnan(f["elem_ratio"]):
        for k in ("elem_ratio", "max_abs_error", "max_ref_abs_error"):
            g[k] = f[k]
    for k in ("elements_over", "elements_compared", "ties"):
        g[k] += f[k]
    g["fp32_fallback"] = g["fp32_fallback"] or f["fp32_fallback"]


_KINDS = ((type(None), "none"), (bool, "bool"), (int, "int"), (float, "float"), (str, "str"),
          (torch.Tensor, "tensor"), (list, "list"), (tuple, "tuple"), (dict, "dict"))


def _kind(v):
    for cls, name in _KINDS:  # bool before int: a bool is an int to isinstance
        if isinstance(v, cls):
            return name
    return "other"


def describe(v):
    """As verify::describe: the kind, a tensor's dtype and shape, a container's first items."""
    kind = _kind(v)
    if kind == "none":
        return "None"
    if kind == "tensor":
        return "tensor %s [%s]" % (dtype_text(v.dtype), ", ".join(str(int(n)) for n in v.shape))
    if kind in ("list", "tuple", "dict"):
        items = list(v.values()) if kind == "dict" else list(v)
        parts = [describe(item) for item in items[:4]]
        if len(items) > 4:
            parts.append("... %d items" % len(items))
        return "%s(%s)" % (kind, ", ".join(parts))
    return kind if kind != "other" else type(v).__name__


class Walker:
    """Compares a candidate value tree with the fp32 and fp64 references. opts: stress,
    fp32_only, precision, allow_ties."""

    def __init__(self, opts):
        self.opts = opts
        self.ok = True
        self.check = ""
        self.detail = ""
        self.figures = new_figures()
        self.path = ""

    def fail(self, check, detail):
        if not self.ok:
            return
        self.ok = False
        self.check = check
        self.detail = ("output" + self.path) + ": " + detail

    def value(self, c, r32, r64):
        if not self.ok:
            return
        kc, kr = _kind(c), _kind(r32)
        if kc != kr:
            return self.fail("structure", "%s, expected %s" % (describe(c), describe(r32)))
        if kc == "none":
            return
        if kc == "bool":
            if c != r32:
                self.fail("exact", "bool differs")
            return
        if kc == "int":
            if c != r32:
                self.fail("exact", "int %d, expected %d" % (c, r32))
            return
        if kc == "str":
            if c != r32:
                self.fail("exact", "string differs")
            return
        if kc == "float":
            r64f = r64 if _kind(r64) == "float" else r32
            t = lambda x: torch.tensor([x], dtype=torch.float64)  # noqa: E731
            return self.floating(t(c), t(r32), t(r64f), unit_roundoff("float32"))
        if kc in ("list", "tuple", "dict"):
            ci = list(c.values()) if kc == "dict" else list(c)
            ri = list(r32.values()) if kc == "dict" else list(r32)
            if len(ci) != len(ri):
                return self.fail("structure", "%d items, expected %d" % (len(ci), len(ri)))
            if kc == "dict" and list(c.keys()) != list(r32.keys()):
                return self.fail("structure", "dict keys differ")
            r64_ok = _kind(r64) == kc and len(r64) == len(ci)
            r64i = (list(r64.values()) if kc == "dict" else list(r64)) if r64_ok else ri
            saved = self.path
            for k in range(len(ci)):
                if not self.ok:
                    break
                self.path = saved + "[%d]" % k
                self.value(ci[k], ri[k], r64i[k])
            self.path = saved
            return
        if kc == "tensor":
            return self.tensor(c, r32, r64 if _kind(r64) == "tensor" else r32)
        return self.fail("structure", "unsupported %s" % describe(c))

    def tensor(self, c, r32, r64):
        if c.dtype != r32.dtype:
            return self.fail("dtype", "dtype %s, expected %s" % (dtype_text(c.dtype), dtype_text(r32.dtype)))
        if list(c.shape) != list(r32.shape):
            return self.fail("shape", "shape [%s], expected [%s]" % (", ".join(str(n) for n in c.shape),
                                                                     ", ".join(str(n) for n in r32.shape)))
        if c.device.type != r32.device.type:
            return self.fail("device", "device %s, expected %s" % (c.device.type, r32.device.type))
        if list(r64.shape) != list(r32.shape):
            return self.fail("structure", "reference runs disagree on the shape")
        device = r32.device
        flat = [t.reshape(-1).to(device) for t in (c, r32, r64)]
        if c.is_floating_point():
            return self.floating(*flat, unit_roundoff(dtype_text(c.dtype)))
        return self.exact(*flat)

    def _chunks(self, c, a, b, convert=True):
        """Chunks of the three, b (the float64 reference, or the float32 one under
        fp32_only) always in float64; c and a too unless `convert` is false, where the
        caller only combines them with b (mixed arithmetic is done in float64)."""
        n = c.numel()
        for begin in range(0, n, CHUNK):
            end = min(n, begin + CHUNK)
            if convert:
                yield (c[begin:end].to(torch.float64), a[begin:end].to(torch.float64),
                       b[begin:end].to(torch.float64))
            else:
                yield c[begin:end], a[begin:end], b[begin:end].to(torch.float64)

    def _classify(self, cp, ap, bp):
        """(compared, r32m, bad): which elements are compared, the fp32 reference where it is
        finite (else fp64), and per failure kind a mask of the elements that fail it."""
        fin32, fin64, finc = torch.isfinite(ap), torch.isfinite(bp), torch.isfinite(cp)
        if self.opts.get("stress"):
            compared = fin32 & fin64 & finc
            bad = {"stress_bad": fin32 & fin64 & ~finc}
        else:
            inf32 = torch.isinf(ap)
            overflow_ok = inf32 & fin64 & finc
            bad = {"bad_finite": fin32 & ~finc, "bad_nan": torch.isnan(ap) & ~torch.isnan(cp),
                   "bad_inf": inf32 & (cp != ap) & ~overflow_ok}
            compared = (fin32 | overflow_ok) & fin64 & finc
        return compared, torch.where(fin32, ap, bp), bad

    def _finite_sums(self, c, a, b):
        """Pass 1 where every element of the three is finite, the common case, in about a
        third of the kernels: no masks, no float64 copies of the float32 tensors (a
        float32 tensor minus a float64 one is computed in float64, exactly as after a
        conversion). Returns (sums, maxes) as lists, or None where any is not finite: a
        non-finite element anywhere makes one of them so (c - b, a - b and b itself are
        summed), and the general pass then decides."""
        sums = maxes = None
        inf = float("inf")
        for cp, ap, bp in self._chunks(c, a, b, convert=False):
            d = torch.sub(cp, bp)
            e = torch.sub(ap, bp)
            chunk_sums = torch.stack([torch.dot(d, d), torch.dot(e, e), torch.dot(bp, bp)])
            chunk_maxes = torch.stack([torch.linalg.vector_norm(t, inf) for t in (d, e, bp)])
            if sums is None:
                sums, maxes = chunk_sums, chunk_maxes
            else:
                sums, maxes = sums + chunk_sums, torch.maximum(maxes, chunk_maxes)
        if sums is None:
            return None
        sums, maxes = sums.tolist(), maxes.tolist()
        return (sums, maxes) if all(math.isfinite(x) for x in sums + maxes) else None

    def floating(self, c, r32, r64_in, u_out):
        # Every figure is accumulated on the device, a chunk at a time, and read once per
        # pass: a read is a synchronization, and a 6 GiB output has 48 chunks.
        r64 = r32 if self.opts.get("fp32_only") else r64_in
        kinds = ("stress_bad",) if self.opts.get("stress") else ("bad_finite", "bad_nan", "bad_inf")
        f = new_figures()
        finite = self._finite_sums(c, r32, r64) if FAST else None
        if finite is not None:
            return self._judge(c, r32, r64, u_out, f, {"compared": c.numel()}, finite[0], finite[1], True)
        counts = sums = maxes = None
        for cp, ap, bp in self._chunks(c, r32, r64):
            compared, r32m, bad = self._classify(cp, ap, bp)
            skipped = ~compared
            d = (cp - bp).abs_().masked_fill_(skipped, 0.0)
            e = (r32m - bp).abs_().masked_fill_(skipped, 0.0)
            r = bp.abs().masked_fill_(skipped, 0.0)
            chunk_counts = torch.stack([bad[k].sum() for k in kinds] + [compared.sum()])
            chunk_sums = torch.stack([torch.dot(d, d), torch.dot(e, e), torch.dot(r, r)])
            chunk_maxes = torch.stack([d.max(), e.max(), r.max()]) if d.numel() else torch.zeros_like(chunk_sums)
            if counts is None:
                counts, sums, maxes = chunk_counts, chunk_sums, chunk_maxes
            else:
                counts, sums = counts + chunk_counts, sums + chunk_sums
                maxes = torch.maximum(maxes, chunk_maxes)
        if counts is None:
            return merge_figures(self.figures, f)
        counted = dict(zip(kinds + ("compared",), [int(x) for x in counts.tolist()]))
        return self._judge(c, r32, r64, u_out, f, counted, sums.tolist(), maxes.tolist(), False)

    def _judge(self, c, r32, r64, u_out, f, counted, sums, maxes, finite):
        """The verdict from pass 1's figures, after pass 2 (the elementwise limit).
        `finite`: every element of the three is finite, so no element is masked."""
        n = c.numel()
        d2, e2, ref2 = sums
        f["max_abs_error"], f["max_ref_abs_error"], max_r = maxes
        f["elements_compared"] = counted["compared"]
        if counted.get("stress_bad", 0) > 0:
            return self.fail("finite", "%d non-finite elements where both references are finite" % counted["stress_bad"])
        if counted.get("bad_finite", 0) > 0:
            return self.fail("finite", "%d of %d elements are NaN or Inf where the reference is finite"
                             % (counted["bad_finite"], n))
        if counted.get("bad_nan", 0) > 0:
            return self.fail("finite", "%d elements are not NaN where the reference is NaN" % counted["bad_nan"])
        if counted.get("bad_inf", 0) > 0:
            return self.fail("finite", "%d elements differ where the reference is infinite" % counted["bad_inf"])
        if f["elements_compared"] == 0:
            return merge_figures(self.figures, f)
        u_p = max(u_out, unit_roundoff(self.opts.get("precision", "fp32")))
        scale = u_p / u_out
        f["norm_error"] = math.sqrt(d2)
        f["norm_ref_error"] = math.sqrt(e2)
        ref_norm = math.sqrt(ref2)
        if f["max_ref_abs_error"] == 0.0 or self.opts.get("fp32_only"):
            f["fp32_fallback"] = True
            f["norm_bound"] = 1024.0 * u_p * ref_norm
            a, b = 256.0 * u_p * max_r, 256.0 * u_p
        else:
            k_norm = 64.0 if self.opts.get("stress") else 16.0
            f["norm_bound"] = max(k_norm * scale * f["norm_ref_error"], 64.0 * u_p * ref_norm)
            a, b = 64.0 * scale * f["max_ref_abs_error"], 64.0 * u_p
        over = worst = any_nan = None
        for cp, ap, bp in self._chunks(c, r32, r64, convert=not finite):
            d = torch.sub(cp, bp).abs_()
            limit = bp.abs().mul_(b).add_(a)
            if finite:  # every element compared; d and limit finite, limit >= _TINY after the clamp: no NaN
                chunk_over = (d > limit).sum()
                ratio = d.div_(limit.clamp_(min=_TINY))
                chunk_nan = torch.zeros((), dtype=torch.bool, device=d.device)
                chunk_worst = ratio.max()  # a chunk is never empty
            else:
                compared, _, _ = self._classify(cp, ap, bp)
                chunk_over = ((d > limit) & compared).sum()
                ratio = d.div_(limit.clamp_(min=_TINY)).masked_fill_(~compared, 0.0)
                nan = torch.isnan(ratio)
                chunk_nan = nan.any()
                chunk_worst = ratio.masked_fill_(nan, 0.0).max() if ratio.numel() else ratio.new_zeros(())
            if over is None:
                over, worst, any_nan = chunk_over, chunk_worst, chunk_nan
            else:
                over, worst, any_nan = over + chunk_over, torch.maximum(worst, chunk_worst), any_nan | chunk_nan
        f["elements_over"] = int(over)
        f["elem_ratio"] = float("nan") if bool(any_nan) else max(0.0, float(worst))
        if f["norm_bound"] > 0:
            f["norm_ratio"] = f["norm_error"] / f["norm_bound"]
        else:
            f["norm_ratio"] = float("inf") if f["norm_error"] > 0 else 0.0
        merge_figures(self.figures, f)
        if f["norm_ratio"] > 1.0:
            return self.fail("normwise", "normwise error %s exceeds the limit %s (%sx; fp32 reference error %s)"
                             % (fmt_g(f["norm_error"]), fmt_g(f["norm_bound"]), fmt_g(f["norm_ratio"]),
                                fmt_g(f["norm_ref_error"])))
        if f["elements_over"] > 0:
            return self.fail("elementwise", "%d of %d elements beyond the elementwise limit (worst %sx the limit, "
                             "max abs error %s)" % (f["elements_over"], f["elements_compared"],
                                                    fmt_g(f["elem_ratio"]), fmt_g(f["max_abs_error"])))

    def exact(self, c, r32, r64):
        f = new_figures()
        b_ref = r32 if self.opts.get("fp32_only") else r64
        n = c.numel()
        wrong = ties = 0
        for begin in range(0, n, CHUNK):
            end = min(n, begin + CHUNK)
            cp = _as_int64(c[begin:end])
            ap = _as_int64(r32[begin:end])
            bp = _as_int64(b_ref[begin:end])
            diff = cp != ap
            ties += int((diff & (ap != bp)).sum())
            wrong += int((diff & (ap == bp)).sum())
        f["elements_compared"] = n
        f["ties"] = ties
        f["elements_over"] = wrong
        merge_figures(self.figures, f)
        if wrong > 0:
            return self.fail("exact", "%d of %d integer elements differ" % (wrong, n))
        if ties > 0 and not self.opts.get("allow_ties"):
            return self.fail("tie", "%d integer elements differ at ties (where the fp32 and fp64 references "
                             "disagree); --allow-ties accepts them" % ties)


def _as_int64(t):
    if t.dtype == torch.bool:  # read as bytes: a byte other than 0 or 1 is true
        return (t.view(torch.uint8) != 0).to(torch.int64)
    return t.to(torch.int64)


def compare(c, r32, r64, opts):
    """{"ok", "check", "detail", "figures"} for candidate tree c against the references."""
    w = Walker(opts)
    try:
        w.value(c, r32, r64)
    except (RuntimeError, ValueError, TypeError) as exc:
        w.fail("structure", "cannot compare: %s" % str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
    return {"ok": w.ok, "check": w.check, "detail": w.detail, "figures": w.figures}


def sanity(value, tensors_of):
    """(all_zero, constant) over the floating tensors of value, as verify::output_sanity."""
    any_float = False
    all_zero = constant = True
    for t in tensors_of(value, []):
        if t.numel() == 0:
            continue
        lo, hi, max_abs, finite = math.inf, -math.inf, 0.0, 0
        flat = t.reshape(-1)
        for begin in range(0, flat.numel(), CHUNK):
            x = flat[begin:begin + CHUNK].to(torch.float64)
            x = x[torch.isfinite(x)]
            if x.numel() == 0:
                continue
            finite += x.numel()
            lo = min(lo, float(x.min()))
            hi = max(hi, float(x.max()))
            max_abs = max(max_abs, float(x.abs().max()))
        if finite == 0:
            continue
        any_float = True
        if max_abs != 0.0:
            all_zero = False
        if hi - lo > 1e-6 * max(max_abs, 1e-30) and finite > 1:
            constant = False
    if not any_float:
        return False, False
    return all_zero, constant


def fingerprint(value, tensors_of, key):
    """A 64-bit digest of value's tensor bytes under a secret key (drawn by the comparer
    at start): equal bytes give equal digests; the candidate cannot aim for a collision
    without the key. Computed where the tensors are."""
    total = 0
    for i, t in enumerate(tensors_of(value, [])):
        if t.numel() == 0:
            continue
        flat = t.detach().reshape(-1)
        if flat.dtype == torch.bool:
            flat = flat.view(torch.uint8)
        raw = flat.contiguous().view(torch.uint8)
        pad = (-raw.numel()) % 4
        if pad:
            raw = torch.cat([raw, raw.new_zeros(pad)])
        words = raw.view(torch.int32)
        acc = 0
        for begin in range(0, words.numel(), CHUNK):  # int64 temporaries a chunk at a time
            w = words[begin:begin + CHUNK].to(torch.int64)
            idx = torch.arange(begin, begin + w.numel(), device=w.device, dtype=torch.int64)
            mixed = (w + key) * (idx * 2 + 1 + key * 2) ^ (w * 0x5851F42D + idx)
            acc = (acc + int(mixed.sum())) & 0xFFFFFFFFFFFFFFFF
        total = (total * 1099511628211 + acc + i) & 0xFFFFFFFFFFFFFFFF
    return total
