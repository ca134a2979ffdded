"""kopt worker harness: value trees on the wire (encode, decode, the output rules) and the
tree helpers the roles share (copies, device moves, bitwise equality)."""

import math

import torch

from kopt_wire import ProtocolError

DTYPES = {}


def _init_dtypes():
    for name in ("float16", "bfloat16", "float32", "float64", "int8", "uint8", "int16",
                 "int32", "int64", "bool"):
        DTYPES[name] = getattr(torch, name)


def dtype_name(dt):
    for name, value in DTYPES.items():
        if value == dt:
            return name
    raise ProtocolError("unsupported dtype %s" % dt)


def tensor_bytes(t):
    """t's bytes as they are now: later writes to t (a candidate's stream still running,
    or its own thread) must not reach them, since kopt compares an output read at return
    with the same output read later."""
    source = t.detach()
    t = source.to("cpu") if source.device.type != "cpu" else source
    t = t.contiguous()
    if t.numel() == 0:
        return b""
    flat = t.reshape(-1)
    if flat.dtype == torch.bool:
        flat = flat.to(torch.uint8)
    else:
        flat = flat.view(torch.uint8)
    if flat.data_ptr() != source.data_ptr() or source.device.type != "cpu":
        # Already a private copy (from the device, or made contiguous): a view of it is
        # enough. Outputs of hundreds of megabytes would otherwise be copied twice.
        return memoryview(flat.numpy())
    return flat.numpy().tobytes()


def encode(value, buffers, strict=False, where="output", lazy=False):
    """Encodes a value tree; with strict=True applies the output rules. With lazy=True
    `buffers` gets the tensors themselves, to be streamed (stream_chunks) after the header."""
    if value is None:
        return {"t": "none"}
    if isinstance(value, bool):
        return {"t": "bool", "v": value}
    if isinstance(value, int):
        return {"t": "int", "v": int(value)}
    if isinstance(value, float):
        if math.isnan(value):
            return {"t": "float", "v": "nan"}
        if math.isinf(value):
            return {"t": "float", "v": "inf" if value > 0 else "-inf"}
        return {"t": "float", "v": float(value)}
    if isinstance(value, str):
        return {"t": "str", "v": value}
    if isinstance(value, torch.Tensor):
        if strict:
            if type(value) is not torch.Tensor:
                raise OutputRuleError("%s is a %s, not exactly torch.Tensor" % (where, type(value).__name__))
            if value.layout != torch.strided:
                raise OutputRuleError("%s is not a strided tensor (%s)" % (where, value.layout))
            if value.requires_grad:
                raise OutputRuleError("%s requires grad" % where)
        if lazy:
            buffers.append(value.detach())
            nbytes = value.numel() * value.element_size()
        else:
            data = tensor_bytes(value)
            buffers.append(data)
            nbytes = len(data)
        return {"t": "tensor", "dtype": dtype_name(value.dtype), "shape": list(value.shape),
                "device": value.device.type, "nbytes": nbytes}
    if isinstance(value, (list, tuple)):
        items = [encode(v, buffers, strict, "%s[%d]" % (where, i), lazy) for i, v in enumerate(value)]
        return {"t": "list" if isinstance(value, list) else "tuple", "items": items}
    if isinstance(value, dict):
        keys, items = [], []
        for k, v in value.items():
            keys.append(encode(k, buffers, False, where, lazy))
            items.append(encode(v, buffers, strict, "%s[%r]" % (where, k), lazy))
        return {"t": "dict", "keys": keys, "items": items}
    raise OutputRuleError("%s has unsupported type %s" % (where, type(value).__name__))


class OutputRuleError(Exception):
    pass


def _raw(flat):
    """A contiguous 1-D CPU tensor's bytes as a memoryview, no copy."""
    if flat.dtype == torch.bool:
        flat = flat.view(torch.uint8)
    return memoryview(flat.view(torch.uint8).numpy())


def decode(j, payload, pos, device):
    """Returns (value, new_pos). Tensors land on `device`."""
    t = j["t"]
    if t == "none":
        return None, pos
    if t in ("bool", "int", "str"):
        return j["v"], pos
    if t == "float":
        v = j["v"]
        return (float(v) if isinstance(v, str) else v), pos
    if t in ("list", "tuple"):
        out = []
        for item in j["items"]:
            v, pos = decode(item, payload, pos, device)
            out.append(v)
        return (out if t == "list" else tuple(out)), pos
    if t == "dict":
        out = {}
        for k, item in zip(j["keys"], j["items"]):
            key, pos = decode(k, payload, pos, device)
            out[key], pos = decode(item, payload, pos, device)
        return out, pos
    if t == "tensor":
        dtype = DTYPES[j["dtype"]]
        n = int(j["nbytes"])
        shape = j["shape"]
        if n == 0:
            tensor = torch.empty(shape, dtype=dtype)
        else:
            raw = torch.frombuffer(bytearray(payload[pos:pos + n]), dtype=torch.uint8)
            if dtype == torch.bool:
                tensor = raw.to(torch.bool).reshape(shape)
            else:
                tensor = raw.view(dtype).reshape(shape)
        return tensor.to(device), pos + n
    raise ProtocolError("unknown value tag %r" % t)


def stressed(inputs, stress):
    """A stress trial's inputs: floating tensors scaled up or down by 8, negated, or shifted
    beyond the sample's spread (DESIGN.md, "Verification", 4); "none" leaves them."""
    if stress == "scale_up":
        return map_floating(inputs, lambda t: t * 8)
    if stress == "scale_down":
        return map_floating(inputs, lambda t: t / 8)
    if stress == "negate":
        return map_floating(inputs, lambda t: -t)
    if stress == "shift":
        def shift(t):
            if t.numel() == 0:
                return t
            spread = float(t.float().std()) if t.numel() > 1 else 1.0
            return t + (4.0 * (spread if spread > 0 else 1.0) + float(t.float().abs().max()))
        return map_floating(inputs, shift)
    return inputs


def map_tensors(value, fn):
    """value with fn applied to every tensor in it (lists, tuples and dict values)."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, list):
        return [map_tensors(v, fn) for v in value]
    if isinstance(value, tuple):
        return tuple(map_tensors(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: map_tensors(v, fn) for k, v in value.items()}
    return value


def to_device(value, device):
    return map_tensors(value, lambda t: t.to(device))


def clone_tree(value, floating=None):
    """A copy of every tensor in value; with floating (a dtype), floating-point tensors are
    copied into that dtype instead, in one pass."""
    def copy(t):
        if floating is not None and t.is_floating_point():
            return t.to(floating, copy=True)
        return t.clone()
    return map_tensors(value, copy)


def map_floating(value, fn):
    return map_tensors(value, lambda t: fn(t) if t.is_floating_point() else t)


def tensors_of(value, out):
    if isinstance(value, torch.Tensor):
        out.append(value)
    elif isinstance(value, (list, tuple)):
        for v in value:
            tensors_of(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            tensors_of(v, out)
    return out


def same_bytes(a, b):
    ta, tb = tensors_of(a, []), tensors_of(b, [])
    if len(ta) != len(tb):
        return False
    for x, y in zip(ta, tb):
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if not torch.equal(bits(x), bits(y)):
            return False
    return True


def bits(t):
    """t's elements as integers of the same width, so that equality is bitwise (NaN equals
    the same NaN, -0.0 differs from 0.0), compared where t lives: no copy to the host."""
    t = t.detach()
    if t.dtype == torch.bool:
        return t.view(torch.uint8)
    if t.is_floating_point():
        return t.view({1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])
    return t


def allocate(j, device):
    """A value tree from a spec tree: tensors allocated (not filled) on device."""
    t = j["t"]
    if t == "tensor":
        return torch.empty([int(n) for n in j["shape"]], dtype=DTYPES[j["dtype"]], device=device)
    if t in ("list", "tuple"):
        out = [allocate(item, device) for item in j["items"]]
        return out if t == "list" else tuple(out)
    if t == "dict":
        return {allocate(k, device): allocate(v, device) for k, v in zip(j["keys"], j["items"])}
    value, _ = decode(j, b"", 0, device)
    return value


def encode_ipc(value, buffers):
    """encode(strict=True), with CUDA tensors described by their IPC spec instead of bytes
    (other tensors travel as bytes, as encode sends them)."""
    from kopt_ipc import export
    if isinstance(value, torch.Tensor) and value.device.type == "cuda":
        if type(value) is not torch.Tensor or value.layout != torch.strided or value.requires_grad:
            return encode(value, buffers, strict=True)  # raises the output rule's error
        return {"t": "tensor", "dtype": dtype_name(value.dtype), "shape": list(value.shape),
                "device": "cuda", "nbytes": 0, "ipc": export(value)}
    if isinstance(value, (list, tuple)):
        return {"t": "list" if isinstance(value, list) else "tuple", "items": [encode_ipc(v, buffers) for v in value]}
    if isinstance(value, dict):
        return {"t": "dict", "keys": [encode(k, buffers) for k in value.keys()],
                "items": [encode_ipc(v, buffers) for v in value.values()]}
    return encode(value, buffers, strict=True)


def overlaps(a, b):
    """Whether two tensors' memory ranges meet."""
    if a.device != b.device or a.numel() == 0 or b.numel() == 0:
        return False
    a0 = a.data_ptr()
    b0 = b.data_ptr()
    a1 = a0 + (1 + sum((n - 1) * s for n, s in zip(a.shape, a.stride()))) * a.element_size()
    b1 = b0 + (1 + sum((n - 1) * s for n, s in zip(b.shape, b.stride()))) * b.element_size()
    return a0 < b1 and b0 < a1


def cast_like(value, like):
    """The fp64 run's output keeps float64 where the fp32 run had a floating dtype; other
    dtypes (argmax indices) stay as they are. Structure mismatches are left to kopt."""
    if isinstance(value, torch.Tensor) and isinstance(like, torch.Tensor):
        if like.is_floating_point() and value.is_floating_point():
            return value.to(torch.float64)
        return value.to(like.dtype)
    if isinstance(value, (list, tuple)) and isinstance(like, (list, tuple)) and len(value) == len(like):
        out = [cast_like(v, l) for v, l in zip(value, like)]
        return out if isinstance(value, list) else tuple(out)
    if isinstance(value, dict) and isinstance(like, dict):
        return {k: cast_like(v, like.get(k)) for k, v in value.items()}
    return value


_init_dtypes()
