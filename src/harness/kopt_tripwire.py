"""kopt worker harness: the tamper tripwire. It runs inside the candidate's process, so it
can raise suspicion, never prove innocence; kopt's own checks happen in kopt."""

import builtins
import inspect
import json
import os
import socket
import struct
import sys
import time

import torch

# The harness's modules: every function and class in them, and every method of their
# classes, is watched ("__main__" is the entry, kopt_worker.py).
HARNESS_MODULES = ("kopt_wire", "kopt_values", "kopt_common", "kopt_tripwire", "kopt_timing", "kopt_roles", "kopt_stream",
                   "kopt_ipc", "kopt_compare", "kopt_comparer", "__main__")


class Tripwire:
    """Remembers the identity of functions a cheat would patch and reports changes.

    It runs inside the candidate's process, so a determined candidate can defeat it;
    it exists to catch the common patches, and kopt decides correctness elsewhere.
    """

    def __init__(self):
        self.watch = []

    def add(self, owner, name, label):
        try:
            value = inspect.getattr_static(owner, name)
        except AttributeError:
            return
        self.watch.append((owner, name, label, value))

    def add_namespace(self, module, label):
        for name, value in list(vars(module).items()):
            if name.startswith("_") or inspect.ismodule(value) or not callable(value):
                continue
            self.watch.append((module, name, "%s.%s" % (label, name), value))

    def changed(self):
        out = []
        for owner, name, label, value in self.watch:
            try:
                now = inspect.getattr_static(owner, name)
            except AttributeError:
                now = None
            if now is not value and not _dynamo_wrapper(label, value, now):
                out.append(label)
        return out


def _dynamo_wrapper(label, original, now):
    """torch._dynamo, when first imported, wraps torch.manual_seed (and only it: measured with
    torch 2.11) in a wrapper that calls the original. kopt imports dynamo before the snapshot
    when the candidate's source names torch.compile; a candidate that reaches it otherwise
    (through a library) is no cheat for that. Only this name, only a wrapper of the very
    original, only once dynamo is imported: a seed setter that still sets the seed gains a
    candidate nothing."""
    return (label == "torch.manual_seed" and "torch._dynamo" in sys.modules
            and getattr(now, "__wrapped__", None) is original)


def build_tripwire():
    tw = Tripwire()
    for name in ("perf_counter", "perf_counter_ns", "time", "time_ns", "monotonic",
                 "monotonic_ns", "process_time", "sleep"):
        tw.add(time, name, "time." + name)
    for name in ("print", "open", "isinstance", "type", "len", "id", "getattr"):
        tw.add(builtins, name, "builtins." + name)
    for name in ("_exit", "fork", "kill"):
        tw.add(os, name, "os." + name)
    tw.add(sys, "exit", "sys.exit")
    for name in ("dumps", "loads"):
        tw.add(json, name, "json." + name)
    tw.add(struct, "pack", "struct.pack")
    tw.add(socket.socket, "sendall", "socket.socket.sendall")
    tw.add(socket.socket, "recv_into", "socket.socket.recv_into")
    tw.add_namespace(torch, "torch")
    tw.add_namespace(torch.nn.functional, "torch.nn.functional")
    for name in ("cpu", "to", "numpy", "contiguous", "clone", "copy_", "detach", "view",
                 "reshape", "tolist", "item", "__eq__", "equal", "allclose", "isclose",
                 "float", "double", "element_size", "numel", "is_floating_point"):
        tw.add(torch.Tensor, name, "torch.Tensor." + name)
    tw.add(torch.nn.Module, "__call__", "torch.nn.Module.__call__")
    tw.add(torch.nn.Module, "_call_impl", "torch.nn.Module._call_impl")
    tw.add(torch.nn.Module, "state_dict", "torch.nn.Module.state_dict")
    tw.add(torch.nn.Module, "load_state_dict", "torch.nn.Module.load_state_dict")
    for name in ("synchronize", "get_rng_state", "manual_seed", "Event", "Stream"):
        tw.add(torch.cuda, name, "torch.cuda." + name)
    tw.add(torch.cuda.Event, "elapsed_time", "torch.cuda.Event.elapsed_time")
    tw.add(torch.cuda.Event, "record", "torch.cuda.Event.record")
    tw.add(torch.cuda.Event, "synchronize", "torch.cuda.Event.synchronize")
    for module in (sys.modules.get(n) for n in HARNESS_MODULES):
        if module is None:
            continue
        label = "harness" if module.__name__ == "__main__" else module.__name__
        for name, value in list(vars(module).items()):
            # Functions, classes and captured builtins (time.perf_counter), imported ones
            # too: a patch of the name a module calls through is caught where it lands.
            if inspect.isfunction(value) or inspect.isclass(value) or inspect.isbuiltin(value):
                tw.add(module, name, "%s.%s" % (label, name))
            if inspect.isclass(value) and value.__module__ == module.__name__:
                for attr, member in list(vars(value).items()):
                    if inspect.isfunction(member):
                        tw.add(value, attr, "%s.%s.%s" % (label, name, attr))
    return tw
