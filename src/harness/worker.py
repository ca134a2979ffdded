"""kopt worker harness: runs one workload (reference role) or one candidate (candidate role).

Embedded in the kopt binary and written next to each worker at run time. It speaks
kopt's frame protocol on an inherited socket (fd 3): a u32 little-endian header length,
a JSON header, then header["payload"] bytes of raw tensor data. stdout and stderr are
logs only; nothing printed there is ever read as a result.

Everything in the candidate role runs inside an untrusted process: the checks here
(tamper tripwires, input copies, poisoning) can raise suspicion, never prove
innocence. kopt's real checks happen in its own process.

Supports torch 1.13 (Debian's CPU build) and later.
"""

import builtins
import copy
import gc
import importlib.util
import inspect
import json
import math
import os
import socket
import struct
import sys
import time
import traceback

if sys.byteorder != "little":
    raise SystemExit("kopt: worker needs a little-endian machine")

# Captured before any user code runs; the harness uses only these.
_perf_counter = time.perf_counter
_sleep = time.sleep
_json_dumps = json.dumps
_json_loads = json.loads
_Event = None           # torch.cuda.Event, captured in main() before any user code
_cuda_sync = None       # torch.cuda.synchronize, likewise
_gpu_sleep = None       # torch.cuda._sleep (a private API: absent, no head sleep), likewise


class ProtocolError(Exception):
    pass


class InputError(Exception):
    """The workload or candidate file is unusable (kopt exit 2 for a workload)."""


class Channel:
    def __init__(self, fd):
        self.sock = socket.socket(fileno=fd)
        self.sock.setblocking(True)
        self._sendall = self.sock.sendall
        self._recv_into = self.sock.recv_into

    def _read_exact(self, n):
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = self._recv_into(view[got:], n - got)
            if k == 0:
                raise EOFError()
            got += k
        return buf

    def recv(self):
        (n,) = struct.unpack("<I", bytes(self._read_exact(4)))
        header = _json_loads(bytes(self._read_exact(n)).decode("utf-8"))
        size = int(header.get("payload", 0))
        payload = self._read_exact(size) if size else bytearray()
        return header, payload

    def send(self, header, buffers=()):
        total = 0
        for b in buffers:
            total += len(b)
        header = dict(header)
        header["payload"] = total
        text = _json_dumps(header, allow_nan=False).encode("utf-8")
        self._sendall(struct.pack("<I", len(text)) + text)
        for b in buffers:
            if len(b):
                self._sendall(b)


# ---------------------------------------------------------------- values

torch = None  # imported in main(), after the channel is up

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


def encode(value, buffers, strict=False, where="output"):
    """Encodes a value tree; with strict=True applies the output rules."""
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
        data = tensor_bytes(value)
        buffers.append(data)
        return {"t": "tensor", "dtype": dtype_name(value.dtype), "shape": list(value.shape),
                "device": value.device.type, "nbytes": len(data)}
    if isinstance(value, (list, tuple)):
        items = [encode(v, buffers, strict, "%s[%d]" % (where, i)) for i, v in enumerate(value)]
        return {"t": "list" if isinstance(value, list) else "tuple", "items": items}
    if isinstance(value, dict):
        keys, items = [], []
        for k, v in value.items():
            keys.append(encode(k, buffers, False, where))
            items.append(encode(v, buffers, strict, "%s[%r]" % (where, k)))
        return {"t": "dict", "keys": keys, "items": items}
    raise OutputRuleError("%s has unsupported type %s" % (where, type(value).__name__))


class OutputRuleError(Exception):
    pass


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


def to_device(value, device):
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, list):
        return [to_device(v, device) for v in value]
    if isinstance(value, tuple):
        return tuple(to_device(v, device) for v in value)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    return value


def clone_tree(value, floating=None):
    """A copy of every tensor in value; with floating (a dtype), floating-point tensors are
    copied into that dtype instead, in one pass."""
    if isinstance(value, torch.Tensor):
        if floating is not None and value.is_floating_point():
            return value.to(floating, copy=True)
        return value.clone()
    if isinstance(value, list):
        return [clone_tree(v, floating) for v in value]
    if isinstance(value, tuple):
        return tuple(clone_tree(v, floating) for v in value)
    if isinstance(value, dict):
        return {k: clone_tree(v, floating) for k, v in value.items()}
    return value


def map_floating(value, fn):
    if isinstance(value, torch.Tensor):
        return fn(value) if value.is_floating_point() else value
    if isinstance(value, list):
        return [map_floating(v, fn) for v in value]
    if isinstance(value, tuple):
        return tuple(map_floating(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: map_floating(v, fn) for k, v in value.items()}
    return value


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


# ---------------------------------------------------------------- helpers

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
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()
    line = text[-1] if text else type(exc).__name__
    return {"ok": False, "error": kind, "message": line[:500]}


# ---------------------------------------------------------------- tamper tripwire

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
            if now is not value:
                out.append(label)
        return out


def build_tripwire(harness_globals):
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
    for name, value in list(harness_globals.items()):
        if inspect.isfunction(value) or inspect.isclass(value):
            tw.add(sys.modules[__name__], name, "harness." + name)
    for cls in (Channel, Tripwire, CandidateRole, Stopwatch):
        for name, value in list(vars(cls).items()):
            if inspect.isfunction(value):
                tw.add(cls, name, "harness.%s.%s" % (cls.__name__, name))
    return tw


# ---------------------------------------------------------------- roles

class Role:
    def __init__(self, channel, device):
        self.channel = channel
        self.device = device
        self.stopwatch = Stopwatch(self)

    def hello(self, msg):
        info = {"ok": True, "python": sys.version.split()[0], "torch": torch.__version__,
                "pid": os.getpid(), "device": self.device, "uid": os.getuid()}
        if self.device == "cuda":
            if not torch.cuda.is_available():
                return {"ok": False, "error": "device", "message": "CUDA is not available to torch %s" % torch.__version__}
            props = torch.cuda.get_device_properties(0)
            info["device_name"] = props.name
            info["capability"] = "%d.%d" % (props.major, props.minor)
            info["sm_count"] = props.multi_processor_count
            info["memory_bytes"] = props.total_memory
            try:  # what is free now: kopt sizes its timing inputs by it (others may hold the rest)
                info["free_bytes"] = int(torch.cuda.mem_get_info()[0])
            except Exception:
                pass
            info["cuda"] = torch.version.cuda
            info["l2_bytes"] = int(getattr(props, "L2_cache_size", 0) or 0)
            info["uuid"] = str(getattr(props, "uuid", "") or "")
            bus = getattr(props, "pci_bus_id", None)
            if bus is not None:
                info["pci"] = "%08x:%02x:%02x.0" % (getattr(props, "pci_domain_id", 0), bus,
                                                    getattr(props, "pci_device_id", 0))
        return info


class ReferenceRole(Role):
    """Trusted as the user's own code: imports only the workload file."""

    def load(self, msg):
        try:
            self.module = load_module(msg["path"], "kopt_workload")
        except BaseException as exc:  # noqa: B902 - any failure of the user's file is an input error
            return error_reply("import", exc)
        missing = [n for n in ("Model", "get_inputs", "get_init_inputs") if not hasattr(self.module, n)]
        if missing:
            return {"ok": False, "error": "input", "message": "workload defines no %s" % ", ".join(missing)}
        return {"ok": True}

    def init(self, msg):
        seed_all(int(msg["init_seed"]))
        try:
            args = self.module.get_init_inputs()
        except BaseException as exc:
            return error_reply("get_init_inputs", exc)
        if not isinstance(args, (list, tuple)):
            args = [args]
        self.init_args = list(args)
        try:
            model = self.module.Model(*clone_tree(self.init_args))
        except BaseException as exc:
            return error_reply("init", exc)
        self.model = model.to(self.device)
        if msg.get("eval_mode"):
            self.model.eval()
        self.snapshot = snapshot_state(self.model)
        self.model64 = None
        self.model64_error = None
        try:
            self.model64 = copy.deepcopy(self.model).double()
            self.snapshot64 = snapshot_state(self.model64)
        except BaseException as exc:
            self.model64_error = str(exc)[:200]
        buffers = []
        args_json = encode(self.init_args, buffers, where="get_init_inputs()")
        state = {k: v.detach().to("cpu") for k, v in self.snapshot.items()}
        state_json = encode(state, buffers, where="state_dict")
        self.buffer_names = sorted(named_buffers(self.model).keys())
        self.channel.send({"ok": True, "init_args": args_json, "state": state_json,
                           "parameters": sum(p.numel() for p in self.model.parameters()),
                           "fp64": self.model64 is not None,
                           "fp64_error": self.model64_error}, buffers)
        return None

    def _inputs(self, seed, stress):
        seed_all(seed)
        inputs = self.module.get_inputs()
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        inputs = to_device(list(inputs), self.device)
        if stress == "scale_up":
            inputs = map_floating(inputs, lambda t: t * 8)
        elif stress == "scale_down":
            inputs = map_floating(inputs, lambda t: t / 8)
        elif stress == "negate":
            inputs = map_floating(inputs, lambda t: -t)
        elif stress == "shift":
            def shift(t):
                if t.numel() == 0:
                    return t
                spread = float(t.float().std()) if t.numel() > 1 else 1.0
                return t + (4.0 * (spread if spread > 0 else 1.0) + float(t.float().abs().max()))
            inputs = map_floating(inputs, shift)
        return inputs

    def trial(self, msg):
        """A verification trial: inputs from get_inputs() under input_seed (optionally
        stressed), outputs in float32 and float64. With timed_seed instead, the inputs are
        those a timed call got (timing_inputs), and they are not sent back."""
        send_inputs = "timed_seed" not in msg
        try:
            if send_inputs:
                inputs = self._inputs(int(msg["input_seed"]), msg.get("stress", "none"))
            else:
                inputs = timing_inputs(self.module, int(msg["timed_seed"]), self.device)
        except BaseException as exc:
            return error_reply("get_inputs", exc)
        call_seed = int(msg["call_seed"])
        pristine = inputs  # never handed to a model; each run gets its own copy
        work = clone_tree(inputs)
        restore_state(self.model, self.snapshot)
        seed_all(call_seed)
        before = rng_state(self.device)
        start = _perf_counter()
        try:
            with torch.no_grad():
                out32 = self.model(*work)
            synchronize(self.device)
        except BaseException as exc:
            return error_reply("forward", exc)
        seconds = _perf_counter() - start
        after = rng_state(self.device)
        random = any(not torch.equal(a, b) for a, b in zip(before, after))
        mutated = not same_bytes(work, pristine)
        buffers32 = {k: v for k, v in named_buffers(self.model).items()}
        out64 = None
        buffers64 = None
        if self.model64 is not None:
            restore_state(self.model64, self.snapshot64)
            seed_all(call_seed)
            start = _perf_counter()
            try:
                with torch.no_grad():
                    out64 = self.model64(*clone_tree(pristine, torch.float64))
                synchronize(self.device)
                seconds += _perf_counter() - start
                buffers64 = {k: v for k, v in named_buffers(self.model64).items()}
            except BaseException as exc:
                out64 = None
                self.model64_error = str(exc)[:200]
        bufs = []
        header = {"ok": True, "random": random, "mutated": mutated, "seconds": seconds}
        try:
            if send_inputs:
                header["inputs"] = encode(pristine, bufs, where="input")
            header["out32"] = encode({"out": out32, "buffers": buffers32}, bufs, strict=True)
            if out64 is not None:
                out64 = cast_like(out64, out32)
                buffers64 = {k: cast_like(v, buffers32.get(k)) for k, v in buffers64.items()}
                header["out64"] = encode({"out": out64, "buffers": buffers64}, bufs)
            else:
                header["fp64_error"] = self.model64_error
            if mutated and send_inputs:
                header["inputs_after"] = encode(work, bufs, where="input")
        except OutputRuleError as exc:
            return error_reply("output", exc)
        self.channel.send(header, bufs)
        return None

    def timing_module(self):
        return self.module

    def timed_model(self, key):
        if key == "eager":
            return self.model
        if key in getattr(self, "compiled", {}):
            return self.compiled[key]
        raise ProtocolError("no model %r" % key)

    def compile(self, msg):
        """Builds torch.compile(model, mode) as the baseline `compile:<mode>` and runs it
        once on timing inputs, so compilation stays out of every timed figure."""
        mode = msg.get("mode", "default")
        key = "compile:" + mode
        if not hasattr(torch, "compile"):
            return {"ok": False, "error": "unavailable",
                    "message": "torch.compile needs torch 2.0 or later (this is %s)" % torch.__version__}
        start = _perf_counter()
        try:
            model = copy.deepcopy(self.model)
            compiled = torch.compile(model) if mode == "default" else torch.compile(model, mode=mode)
            inputs = timing_inputs(self.module, int(msg["seed"]), self.device)
            with torch.no_grad():
                compiled(*inputs)
            synchronize(self.device)
        except BaseException as exc:
            return error_reply("compile", exc)
        if not hasattr(self, "compiled"):
            self.compiled = {}
        self.compiled[key] = compiled
        return {"ok": True, "key": key, "seconds": _perf_counter() - start}


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


class CandidateRole(Role):
    """Untrusted: imports the candidate file."""

    def load(self, msg):
        if hasattr(torch, "compile"):
            # torch._dynamo wraps a few torch functions (torch.manual_seed) when first
            # imported; import it before the snapshot so torch.compile is no false alarm.
            try:
                importlib.import_module("torch._dynamo")
            except Exception:
                pass
        # The workload (the user's file) generates this process's timing inputs; loaded
        # before the snapshot so its own imports are never blamed on the candidate.
        self.workload = None
        if msg.get("workload"):
            try:
                self.workload = load_module(msg["workload"], "kopt_timing_workload")
            except BaseException as exc:
                return error_reply("workload", exc)
        self.tripwire = build_tripwire(globals())
        start = _perf_counter()
        try:
            self.module = load_module(msg["path"], "kopt_candidate")
        except BaseException as exc:
            return error_reply("import", exc)
        elapsed = _perf_counter() - start
        if not hasattr(self.module, "ModelNew"):
            return {"ok": False, "error": "input", "message": "candidate defines no ModelNew"}
        return {"ok": True, "seconds": elapsed, "tampered": self.tripwire.changed()}

    def init(self, msg, payload):
        pos = 0
        args, pos = decode(msg["init_args"], payload, pos, "cpu")
        state, pos = decode(msg["state"], payload, pos, "cpu")
        seed_all(int(msg["init_seed"]))
        try:
            model = self.module.ModelNew(*args)
            own = model.state_dict()
            matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
            if matched:
                model.load_state_dict(matched, strict=False)
            self.model = model.to(self.device)
            if msg.get("eval_mode"):
                self.model.eval()
            self.snapshot = snapshot_state(self.model)
        except BaseException as exc:
            return error_reply("init", exc)
        return {"ok": True, "matched": len(matched), "tampered": self.tripwire.changed()}

    def timing_module(self):
        if self.workload is None:
            raise ProtocolError("no workload loaded for timing inputs")
        return self.workload

    def timed_model(self, key):
        if key != "candidate":
            raise ProtocolError("no model %r" % key)
        return self.model

    def poison(self, specs):
        """Fills freed allocator memory with NaN / extreme values before the call, so an
        output the candidate never writes cannot inherit a correct value."""
        poisoned = 0
        for dtype_s, shape in specs:
            dtype = DTYPES[dtype_s]
            for _ in range(2):
                t = torch.empty(shape, dtype=dtype, device=self.device)
                if t.is_floating_point():
                    t.fill_(float("nan"))
                elif dtype == torch.bool:
                    t.fill_(True)
                else:
                    t.fill_(torch.iinfo(dtype).max)
                poisoned += t.numel() * t.element_size()
                del t
        synchronize(self.device)
        return poisoned

    def call(self, msg, payload):
        inputs, _ = decode(msg["inputs"], payload, 0, self.device)
        restore_state(self.model, self.snapshot)
        poisoned = self.poison(msg.get("poison", []))
        seed_all(int(msg["call_seed"]))
        start = _perf_counter()
        try:
            with torch.no_grad():
                out = self.model(*inputs)
            synchronize(self.device)
        except BaseException as exc:
            return error_reply("forward", exc)
        elapsed = _perf_counter() - start
        buffers = {k: v for k, v in named_buffers(self.model).items()}
        bufs = []
        try:
            header = {"ok": True, "seconds": elapsed, "poisoned_bytes": poisoned,
                      "out": encode({"out": out, "buffers": buffers}, bufs, strict=True)}
            header["inputs_after"] = encode(inputs, bufs, where="input")
            delay = float(msg.get("recheck_seconds", 0.0))
            if delay > 0:
                _sleep(delay)
            synchronize(self.device)
            header["out_later"] = encode({"out": out, "buffers": buffers}, bufs, strict=True)
        except OutputRuleError as exc:
            return error_reply("output", exc)
        header["tampered"] = self.tripwire.changed()
        self.channel.send(header, bufs)
        return None


# ---------------------------------------------------------------- timing

def timing_inputs(module, seed, device):
    """Inputs for one timed call: the workload's own get_inputs() under `seed`, created
    on the device where this torch allows it (torch.device as a context manager, 2.0+).
    The reference worker reproduces exactly these from the same seed, so kopt can check a
    timed call's outputs; no timed call ever sees inputs an earlier call saw."""
    seed_all(seed)
    if device != "cpu" and hasattr(torch.device(device), "__enter__"):
        with torch.device(device):
            inputs = module.get_inputs()
    else:
        inputs = module.get_inputs()
    if not isinstance(inputs, (list, tuple)):
        inputs = [inputs]
    return to_device(list(inputs), device)


class Stopwatch:
    """kopt's timing primitives. kopt decides batch sizes, seeds and which outputs to
    check; this only runs them. A timed region starts and ends with a device-wide
    synchronize (work on side streams is inside) and is measured with CUDA events; L2 is
    flushed before every call (kopt subtracts the flush by timing a null batch). An event
    recorded before the closing synchronize gives head_ms too: kopt compares the tail
    after it with a null batch's (docs/measurement.md)."""

    def __init__(self, role):
        self.role = role
        self.device = role.device
        self.flush_buf = None
        self.inputs = []
        self.outputs = []

    def setup(self, msg):
        info = {"ok": True, "flush_bytes": 0, "l2_bytes": 0}
        if self.device == "cuda":
            props = torch.cuda.get_device_properties(0)
            l2 = int(getattr(props, "L2_cache_size", 0) or 0)
            info["l2_bytes"] = l2
            if msg.get("flush", True):
                nbytes = max(2 * l2, 128 << 20)
                self.flush_buf = torch.empty(nbytes // 4, dtype=torch.int32, device="cuda")
                info["flush_bytes"] = nbytes
        return info

    def prepare(self, msg):
        self.outputs = []
        self.inputs = []
        module = self.role.timing_module()
        try:
            for seed in msg["seeds"]:
                self.inputs.append(timing_inputs(module, int(seed), self.device))
            synchronize(self.device)
        except BaseException as exc:
            self.inputs = []
            return error_reply("get_inputs", exc)
        reply = {"ok": True, "calls": len(self.inputs)}
        tw = getattr(self.role, "tripwire", None)
        if tw is not None:
            reply["tampered"] = tw.changed()
        return reply

    def run(self, msg):
        key = msg["model"]
        model = None if key == "null" else self.role.timed_model(key)
        keep = bool(msg.get("keep", False)) and model is not None
        buf = self.flush_buf if msg.get("flush", True) else None
        outputs = []
        cuda = self.device == "cuda"
        hold = int(msg.get("hold_cycles", 0)) if cuda else 0
        wake = int(msg.get("wake_cycles", 0)) if cuda else 0
        head = int(msg.get("head_cycles", 0)) if cuda else 0
        # No garbage collection inside a timed region (as timeit does): a collection of a
        # long-lived worker's heap stalls the host while the GPU runs dry. ("gc": true
        # keeps it on, to measure what it costs.)
        gc_was = gc.isenabled()
        if not msg.get("gc", False):
            gc.disable()
        collections = sum(st["collections"] for st in gc.get_stats())
        try:
            with torch.no_grad():
                if wake:  # diagnostic: the GPU busy up to the opening synchronize
                    torch.cuda._sleep(wake)
                synchronize(self.device)
                if cuda:
                    start, end = _Event(enable_timing=True), _Event(enable_timing=True)
                    if hold:  # diagnostic: the host queues the batch while the GPU sleeps
                        torch.cuda._sleep(hold)
                    start.record()
                    if head and _gpu_sleep is not None:  # inside the span, null batches too:
                        _gpu_sleep(head)  # the host queues the first calls while the GPU sleeps
                else:
                    t0 = _perf_counter()
                q0 = _perf_counter()
                for inputs in self.inputs:
                    if buf is not None:
                        buf.zero_()
                    if model is not None:
                        out = model(*inputs)
                        if keep:
                            outputs.append(out)
                enqueue_ms = (_perf_counter() - q0) * 1000.0
                if cuda:  # the current stream's work done, before waiting on the device
                    mid = _Event(enable_timing=True)
                    mid.record()
                synchronize(self.device)
                if cuda:
                    end.record()
                    end.synchronize()
                    ms = start.elapsed_time(end)
                    head_ms = start.elapsed_time(mid)
                else:
                    ms = head_ms = (_perf_counter() - t0) * 1000.0
        except BaseException as exc:
            return error_reply("forward", exc)
        finally:
            collections = sum(st["collections"] for st in gc.get_stats()) - collections
            if gc_was:
                gc.enable()
        self.outputs = outputs
        # No tripwire here: walking it takes milliseconds, which would blur kopt's
        # outside clock. The next prepare reports what changed during this run.
        return {"ok": True, "ms": ms, "head_ms": head_ms, "calls": len(self.inputs), "enqueue_ms": enqueue_ms,
                "gc_collections": collections}

    def output(self, msg):
        index = int(msg["index"])
        if not 0 <= index < len(self.outputs):
            return {"ok": False, "error": "protocol", "message": "no kept output %d" % index}
        bufs = []
        try:
            header = {"ok": True, "out": encode(self.outputs[index], bufs, strict=True)}
        except OutputRuleError as exc:
            return error_reply("output", exc)
        self.channel_send(header, bufs)
        return None

    def channel_send(self, header, bufs):
        self.role.channel.send(header, bufs)

    def ncu_run(self, msg):
        """Calls for Nsight Compute (kopt --ncu runs this worker under ncu with
        --profile-from-start off): warm-up calls outside the profiled range, then `calls`
        calls between cudaProfilerStart and cudaProfilerStop, on fresh inputs. On a CPU
        there is no range to mark (and nothing for ncu to profile)."""
        cuda = self.device == "cuda"
        model = self.role.timed_model(msg.get("model", "eager"))
        calls = max(1, int(msg.get("calls", 1)))
        try:
            inputs = timing_inputs(self.role.timing_module(), int(msg["seed"]), self.device)
            with torch.no_grad():
                for _ in range(max(0, int(msg.get("warmup", 3)))):
                    model(*inputs)
                synchronize(self.device)
                if cuda:
                    torch.cuda.profiler.start()
                for _ in range(calls):
                    model(*inputs)
                synchronize(self.device)
                if cuda:
                    torch.cuda.profiler.stop()
        except BaseException as exc:
            return error_reply("forward", exc)
        return {"ok": True, "calls": calls}

    def profile(self, msg):
        """Top kernels by device time over a few calls on fresh inputs (torch.profiler),
        and the work one call must do: bytes in and out, and flops where torch counts them."""
        key = msg["model"]
        model = self.role.timed_model(key)
        seeds = [int(s) for s in msg["seeds"]]
        module = self.role.timing_module()
        result = {"ok": True, "kernels": [], "flops": None}
        try:
            inputs = timing_inputs(module, seeds[0], self.device)
            with torch.no_grad():
                out = model(*inputs)
            synchronize(self.device)
            nbytes = sum(t.numel() * t.element_size() for t in tensors_of(inputs, []))
            nbytes += sum(t.numel() * t.element_size() for t in tensors_of(out, []))
            if isinstance(model, torch.nn.Module):
                nbytes += sum(p.numel() * p.element_size() for p in model.parameters())
            result["bytes"] = nbytes
            result["flops"] = count_flops(model, inputs)
            from torch.profiler import profile as _profile, ProfilerActivity
            activities = [ProfilerActivity.CPU]
            if self.device == "cuda":
                activities.append(ProfilerActivity.CUDA)
            batches = [timing_inputs(module, s, self.device) for s in seeds[1:]]
            with _profile(activities=activities) as prof:
                with torch.no_grad():
                    for inp in batches:
                        model(*inp)
                synchronize(self.device)
            result["kernels"] = top_kernels(prof, self.device, max(1, len(batches)))
        except BaseException as exc:
            result["error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:300]
        return result


def count_flops(model, inputs):
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except Exception:
        return None
    try:
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(*inputs)
        return int(counter.get_total_flops())
    except BaseException:
        return None


def top_kernels(prof, device, calls):
    rows = []
    for evt in prof.key_averages():
        if device == "cuda":
            dev = getattr(evt, "device_type", None)
            if dev is None or "CUDA" not in str(dev):
                continue
            us = getattr(evt, "self_device_time_total", None)
            if us is None:
                us = getattr(evt, "self_cuda_time_total", 0)
        else:
            us = getattr(evt, "self_cpu_time_total", 0)
        if us <= 0:
            continue
        rows.append({"name": evt.key[:200], "total_us": float(us), "count": int(evt.count)})
    total = sum(r["total_us"] for r in rows) or 1.0
    rows.sort(key=lambda r: -r["total_us"])
    out = []
    for r in rows[:12]:
        out.append({"name": r["name"], "us_per_call": r["total_us"] / calls,
                    "launches_per_call": r["count"] / float(calls), "share": r["total_us"] / total})
    return out


def serve(role, channel):
    while True:
        try:
            header, payload = channel.recv()
        except EOFError:
            return 0
        op = header.get("op")
        try:
            if op == "hello":
                reply = role.hello(header)
            elif op == "load":
                reply = role.load(header)
            elif op == "init":
                reply = role.init(header, payload) if isinstance(role, CandidateRole) else role.init(header)
            elif op == "trial" and isinstance(role, ReferenceRole):
                reply = role.trial(header)
            elif op == "call" and isinstance(role, CandidateRole):
                reply = role.call(header, payload)
            elif op == "compile" and isinstance(role, ReferenceRole):
                reply = role.compile(header)
            elif op in ("time_setup", "time_prepare", "time_run", "time_output", "profile", "ncu_run"):
                sw = role.stopwatch
                reply = {"time_setup": sw.setup, "time_prepare": sw.prepare, "time_run": sw.run,
                         "time_output": sw.output, "profile": sw.profile, "ncu_run": sw.ncu_run}[op](header)
            elif op == "bye":
                channel.send({"ok": True})
                return 0
            else:
                reply = {"ok": False, "error": "protocol", "message": "unknown op %r" % op}
        except (ProtocolError, KeyError, ValueError, TypeError) as exc:
            reply = error_reply("protocol", exc)
        if reply is not None:
            channel.send(reply)


def main(argv):
    global torch
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=["reference", "candidate"], required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--fd", type=int, default=3)
    args = parser.parse_args(argv)
    # Non-dumpable before any user code runs: another candidate of the same user cannot
    # read this process's memory or environment through /proc (the reference's outputs,
    # or a sibling candidate's inputs).
    try:
        import ctypes
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except Exception:
        pass
    channel = Channel(args.fd)
    import torch as torch_module
    torch = torch_module
    global _Event, _cuda_sync, _gpu_sleep
    _Event = torch.cuda.Event
    _cuda_sync = torch.cuda.synchronize
    _gpu_sleep = getattr(torch.cuda, "_sleep", None)
    _init_dtypes()
    role = ReferenceRole(channel, args.device) if args.role == "reference" else CandidateRole(channel, args.device)
    return serve(role, channel)


if __name__ == "__main__":
    sys.modules.setdefault("kopt_harness", sys.modules[__name__])
    sys.exit(main(sys.argv[1:]))
