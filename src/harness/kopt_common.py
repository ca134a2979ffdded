"""kopt worker harness: helpers both roles and the stopwatch use (device synchronize, module
loading, seeds, state snapshots, error replies)."""

import importlib
import importlib.util
import os
import sys
import time
import traceback

import torch

from kopt_wire import InputError

# Captured before any user code runs; the harness uses only these.
_perf_counter = time.perf_counter
_sleep = time.sleep
_write = os.write
_cuda_sync = torch.cuda.synchronize


def synchronize(device):
    if device == "cuda":
        _cuda_synchronize()


def _cuda_synchronize():
    _cuda_sync()


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InputError("cannot load %s" % path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:
        sys.path.insert(0, directory)
    spec.loader.exec_module(module)
    return module


def rng_state(device):
    state = [torch.get_rng_state()]
    if device == "cuda":
        state.append(torch.cuda.get_rng_state())
    return state


def seed_all(seed):
    torch.manual_seed(seed)


def snapshot_state(model):
    return {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}


def restore_state(model, snapshot):
    with torch.no_grad():
        current = model.state_dict(keep_vars=True)
        for k, v in snapshot.items():
            if k in current and current[k].shape == v.shape:
                current[k].copy_(v)


def named_buffers(model):
    return {k: v for k, v in model.named_buffers() if isinstance(v, torch.Tensor)}


def error_reply(kind, exc):
    full = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    text = full.splitlines()
    line = text[-1] if text else type(exc).__name__
    reply = {"ok": False, "error": kind, "message": line[:500]}
    if len(text) > 1:
        # A failed build (torch's cpp_extension) carries the whole compiler log, whose last
        # line is only ninja's "build stopped": the log goes to stderr (the report's log
        # tail) and its end to kopt, which picks out the line that says why.
        tail = full[-65536:]
        reply["detail"] = tail
        try:
            _write(2, (tail + "\n").encode("utf-8", "replace"))
        except Exception:
            pass
    return reply


def large_blocks_mapped(on):
    """Where glibc's malloc takes blocks of 32 MiB and more. Workers start with every block
    from the heap, never given back (worker_pool.cpp: no page faults per trial, and timing
    allocates alike on both sides). Streamed calls (the host path), the reference's and
    the candidate's, turn that off (on=True): their tensors of several GiB, freed in
    another order each trial, would otherwise fragment the heap to more than twice what is
    alive (the reference: 15.5 GiB for a 1 GiB output). Timing turns it back (on=False).
    glibc only; silent elsewhere."""
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        libc.mallopt(-4, 65536 if on else 0)  # M_MMAP_MAX
        if on:
            libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
    except Exception:
        pass


def _import_dynamo():
    """torch._dynamo wraps a few torch functions (torch.manual_seed) when first imported;
    imported before the tripwire's snapshot so torch.compile is no false alarm."""
    if hasattr(torch, "compile"):
        try:
            importlib.import_module("torch._dynamo")
        except Exception:
            pass


def host_cpu():
    """The host CPU's model ("model name" in /proc/cpuinfo; platform.processor() where there
    is none): a CPU run's times belong to it, as a GPU run's to the GPU's name."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model") and value.strip():
                    return value.strip()[:200]
    except OSError:
        pass
    import platform
    return (platform.processor() or "")[:200]


def cuda_init_error():
    """Why CUDA is unavailable, in the driver's words: cuInit's error name, or why
    libcuda.so.1 cannot be loaded (torch.cuda.is_available() only says False)."""
    import ctypes
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        return "the driver library cannot be loaded (%s)" % exc
    rc = lib.cuInit(0)
    name = ctypes.c_char_p()
    try:
        lib.cuGetErrorName(rc, ctypes.byref(name))
    except Exception:
        pass
    return "cuInit returned %s (%d)" % (name.value.decode() if name.value else "an unknown error", rc)
