# kopt builtin candidate: split-tf32
# the eager forward with its fp32 matmuls as 3xTF32 tensor-core products (fp32 accuracy)
# Self-contained: the workload's source is embedded and executed into its own module;
# ModelNew subclasses the workload's Model, so constructor and parameter names match.
import linecache as _linecache
import sys as _sys
import types as _types

import torch

_KOPT_WORKLOAD_FILE = "<kopt workload w_linear_gelu.py>"
_KOPT_WORKLOAD_SOURCE = """\"\"\"Linear followed by GELU: a KernelBench-style level-2 workload.\"\"\"
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        return torch.nn.functional.gelu(self.linear(x))


batch_size = 128
in_features = 512
out_features = 256


def get_inputs():
    return [torch.randn(batch_size, in_features)]


def get_init_inputs():
    return [in_features, out_features]
"""
_linecache.cache[_KOPT_WORKLOAD_FILE] = (len(_KOPT_WORKLOAD_SOURCE), None,
                                        _KOPT_WORKLOAD_SOURCE.splitlines(True), _KOPT_WORKLOAD_FILE)
workload = _types.ModuleType("kopt_embedded_workload")
workload.__file__ = _KOPT_WORKLOAD_FILE
_sys.modules["kopt_embedded_workload"] = workload
exec(compile(_KOPT_WORKLOAD_SOURCE, _KOPT_WORKLOAD_FILE, "exec"), workload.__dict__)
Model = workload.Model
get_inputs = workload.get_inputs
get_init_inputs = workload.get_init_inputs



def _kopt_unsupported(args):
    return any(not isinstance(a, (torch.Tensor, int, float, bool, type(None))) for a in args)


def _kopt_signature(args):
    return tuple((tuple(a.shape), a.dtype, str(a.device), a.stride()) if isinstance(a, torch.Tensor)
                 else ("value", repr(a)) for a in args)


def _kopt_clone(out):
    if isinstance(out, torch.Tensor):
        return out.clone()
    if isinstance(out, (list, tuple)):
        return type(out)(_kopt_clone(o) for o in out)
    if isinstance(out, dict):
        return {k: _kopt_clone(v) for k, v in out.items()}
    return out


class ModelNew(Model):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._kopt_state = {}  # a plain dict: not registered, not in the state_dict

    def _kopt_eager(self, *args):
        return Model.forward(self, *args)

    def forward(self, *args):
        if self._kopt_state.get("tracing"):
            return Model.forward(self, *args)
        return self._kopt_run(args)

    def _kopt_run(self, args):
        with _KoptSplitTF32():
            return self._kopt_eager(*args)


def _kopt_split(x):
    # The high part truncated to TF32 (two passes over x, where rounding would take three):
    # the error stays at the fp32 product's own (split_tf32_error.py). An infinite input
    # gives inf - inf = NaN in the remainder: kopt's checks reject that on such a workload.
    hi = x.view(torch.int32).bitwise_and(-8192).view(torch.float32)
    return hi, x - hi


def _kopt_split_ok(*tensors):
    return all(isinstance(t, torch.Tensor) and t.dtype == torch.float32 for t in tensors)


def _kopt_3x(op, a, b):
    ah, al = _kopt_split(a)
    bh, bl = _kopt_split(b)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        out = op(ah, bl)
        out += op(al, bh)
        out += op(ah, bh)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return out


class _KoptSplitTF32(torch.overrides.TorchFunctionMode):
    calls = 0  # how many products went through the split (tests read it)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.mm, torch.Tensor.mm,
                    torch.bmm, torch.Tensor.bmm) and len(args) == 2 and not kwargs and _kopt_split_ok(*args):
            _KoptSplitTF32.calls += 1
            return _kopt_3x(torch.matmul, args[0], args[1])
        if func is torch.Tensor.__rmatmul__ and len(args) == 2 and not kwargs and _kopt_split_ok(*args):
            _KoptSplitTF32.calls += 1
            return _kopt_3x(torch.matmul, args[1], args[0])
        if func is torch.nn.functional.linear:
            x, w = args[0], args[1] if len(args) > 1 else kwargs.get("weight")
            b = args[2] if len(args) > 2 else kwargs.get("bias")
            if _kopt_split_ok(x, w) and (b is None or _kopt_split_ok(b)):
                _KoptSplitTF32.calls += 1
                out = _kopt_3x(torch.matmul, x, w.t())
                return out if b is None else out.add_(b)
        if func in (torch.addmm, torch.Tensor.addmm) and len(args) == 3 and _kopt_split_ok(*args) and \
                set(kwargs) <= {"beta", "alpha"}:
            _KoptSplitTF32.calls += 1
            beta, alpha = kwargs.get("beta", 1), kwargs.get("alpha", 1)
            out = _kopt_3x(torch.mm, args[1], args[2])
            if alpha != 1:
                out.mul_(alpha)
            return out.add_(args[0], alpha=beta) if beta != 0 else out
        return func(*args, **kwargs)
