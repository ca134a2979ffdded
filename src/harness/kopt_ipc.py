"""kopt worker harness: CUDA IPC through the driver API (ctypes, libcuda.so.1).

The trust direction is one way: the reference worker (trusted) maps memory that a
candidate worker (untrusted) exports, never the reverse. The candidate's harness exports
the allocation that holds each of its input and output tensors (cuIpcGetMemHandle on the
allocation's base); the reference opens it (cuIpcOpenMemHandle), checks every view
against the allocation's real size (cuMemGetAddressRange in its own process), writes
inputs into it or copies outputs out of it into its own memory before it compares
anything. No handle to reference memory ever leaves the reference.

A spec on the wire: {"handle": 128 hex digits, "offset": bytes from the allocation's base,
"strides": element strides, "storage_bytes": bytes the view spans}; the tensor's dtype and
shape travel in the value tree beside it. Works with torch's caching allocator (cudaMalloc
segments); memory from expandable segments (cuMemCreate) cannot be exported this way and
fails with a clear error, so kopt falls back to the host path.
"""

import ctypes

import torch

_HANDLE_BYTES = 64
_LAZY_ENABLE_PEER_ACCESS = 1


class IpcError(Exception):
    pass


class _Handle(ctypes.Structure):
    _fields_ = [("reserved", ctypes.c_char * _HANDLE_BYTES)]


class _Driver:
    def __init__(self):
        try:
            self.lib = ctypes.CDLL("libcuda.so.1")
        except OSError as exc:
            raise IpcError("libcuda.so.1 cannot be loaded: %s" % exc)
        self.get_range = self._fn("cuMemGetAddressRange_v2", "cuMemGetAddressRange")
        self.get_handle = self._fn("cuIpcGetMemHandle")
        self.open_handle = self._fn("cuIpcOpenMemHandle_v2", "cuIpcOpenMemHandle")
        self.close_handle = self._fn("cuIpcCloseMemHandle")
        self.error_name = getattr(self.lib, "cuGetErrorName", None)
        self.get_range.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_size_t), ctypes.c_uint64]
        self.get_handle.argtypes = [ctypes.POINTER(_Handle), ctypes.c_uint64]
        self.open_handle.argtypes = [ctypes.POINTER(ctypes.c_uint64), _Handle, ctypes.c_uint]
        self.close_handle.argtypes = [ctypes.c_uint64]

    def _fn(self, *names):
        for name in names:
            fn = getattr(self.lib, name, None)
            if fn is not None:
                fn.restype = ctypes.c_int
                return fn
        raise IpcError("libcuda has no %s" % names[0])

    def check(self, rc, what):
        if rc == 0:
            return
        name = "CUDA error %d" % rc
        if self.error_name is not None:
            text = ctypes.c_char_p()
            if self.error_name(rc, ctypes.byref(text)) == 0 and text.value:
                name = text.value.decode("ascii", "replace")
        raise IpcError("%s failed: %s" % (what, name))

    def allocation(self, ptr):
        base, size = ctypes.c_uint64(), ctypes.c_size_t()
        self.check(self.get_range(ctypes.byref(base), ctypes.byref(size), ctypes.c_uint64(ptr)), "cuMemGetAddressRange")
        return base.value, size.value


_driver = None


def driver():
    global _driver
    if _driver is None:
        _driver = _Driver()
    return _driver


def export(t):
    """The IPC spec of tensor t's memory (t on a CUDA device). Raises IpcError."""
    if t.device.type != "cuda":
        raise IpcError("not a CUDA tensor")
    d = driver()
    ptr = t.data_ptr()
    if t.numel() == 0:
        return {"handle": "", "offset": 0, "strides": list(t.stride()), "storage_bytes": 0}
    base, size = d.allocation(ptr)
    handle = _Handle()
    d.check(d.get_handle(ctypes.byref(handle), ctypes.c_uint64(base)), "cuIpcGetMemHandle")
    span = 1 + sum((n - 1) * s for n, s in zip(t.shape, t.stride()))
    # c_char arrays read back truncated at the first NUL: take the raw bytes.
    return {"handle": ctypes.string_at(ctypes.addressof(handle), _HANDLE_BYTES).hex(),
            "offset": ptr - base, "strides": list(t.stride()),
            "storage_bytes": span * t.element_size(), "allocation_bytes": size}


class _Raw:
    """A byte range of mapped device memory, as torch.as_tensor reads it."""

    def __init__(self, ptr, nbytes):
        self.__cuda_array_interface__ = {"shape": (nbytes,), "typestr": "|u1", "data": (ptr, False),
                                         "version": 2, "strides": None}


class Importer:
    """Opens candidate allocations in the trusted process and hands out views of them.
    Each handle is opened once and kept open until close_all(): the caching allocator
    serves a candidate's tensors from few allocations, and reopening costs milliseconds.
    Not thread-safe."""

    def __init__(self):
        self.open = {}  # handle hex -> (base pointer here, allocation bytes)

    def _base(self, hexhandle):
        got = self.open.get(hexhandle)
        if got is not None:
            return got
        d = driver()
        raw = bytes.fromhex(hexhandle)
        if len(raw) != _HANDLE_BYTES:
            raise IpcError("malformed IPC handle")
        handle = _Handle()
        ctypes.memmove(ctypes.addressof(handle), raw, _HANDLE_BYTES)
        ptr = ctypes.c_uint64()
        d.check(d.open_handle(ctypes.byref(ptr), handle, _LAZY_ENABLE_PEER_ACCESS), "cuIpcOpenMemHandle")
        base, size = d.allocation(ptr.value)  # the real size, measured here, not the exporter's word
        got = (ptr.value, size - (ptr.value - base))
        self.open[hexhandle] = got
        return got

    def view(self, spec, dtype, shape):
        """A tensor over the candidate's memory that spec describes, checked against the
        allocation's real bounds. Reads see the candidate's later writes: copy first."""
        numel = 1
        for n in shape:
            numel *= int(n)
        itemsize = torch.empty((), dtype=dtype).element_size()
        if numel == 0:
            return torch.empty(shape, dtype=dtype, device="cuda")
        strides = [int(s) for s in spec["strides"]]
        if len(strides) != len(shape) or any(s < 0 for s in strides):
            raise IpcError("malformed strides")
        span = (1 + sum((int(n) - 1) * s for n, s in zip(shape, strides))) * itemsize
        offset = int(spec["offset"])
        base, size = self._base(str(spec["handle"]))
        if offset < 0 or offset % itemsize or offset + span > size:
            raise IpcError("view of %d bytes at offset %d outside an allocation of %d bytes" % (span, offset, size))
        raw = torch.as_tensor(_Raw(base + offset, span), device="cuda")
        flat = raw.view(torch.uint8) if dtype == torch.bool else raw.view(dtype)
        if dtype == torch.bool:
            flat = flat.view(torch.bool)
        return flat.as_strided([int(n) for n in shape], strides)

    def close_all(self):
        d = _driver
        for base, _ in self.open.values():
            if d is not None:
                d.close_handle(ctypes.c_uint64(base))
        self.open = {}
