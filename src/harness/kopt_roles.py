"""kopt worker harness: the two roles. The reference (trusted as the user's own code)
imports the workload, runs verification trials and the torch.compile baselines; the
candidate (untrusted) imports the candidate file and answers kopt's calls."""

import copy
import os
import sys

import torch

from kopt_common import (_import_dynamo, _perf_counter, _sleep, cuda_init_error, error_reply, host_cpu, load_module,
                         named_buffers, restore_state, rng_state, seed_all, snapshot_state, synchronize)
from kopt_compare import fingerprint
from kopt_stream import CandidateStream, ReferenceStream, decode_stream
from kopt_timing import Stopwatch, timing_inputs
from kopt_tripwire import build_tripwire
from kopt_values import (DTYPES, OutputRuleError, allocate, cast_like, clone_tree, decode, encode, encode_ipc,
                         overlaps, same_bytes, stressed, tensors_of)
from kopt_wire import ProtocolError


class Role:
    def __init__(self, channel, device):
        self.channel = channel
        self.device = device
        self.stopwatch = Stopwatch(self)

    def forward(self, model, inputs):
        """model(*inputs) without autograd, until its device work is done: (output, seconds).
        Raises what the model raises."""
        start = _perf_counter()
        with torch.no_grad():
            out = model(*inputs)
        synchronize(self.device)
        return out, _perf_counter() - start

    def hello(self, msg, measure_free=True):
        info = {"ok": True, "python": sys.version.split()[0], "torch": torch.__version__,
                "pid": os.getpid(), "device": self.device, "uid": os.getuid(), "host_cpu": host_cpu()}
        if self.device == "cuda":
            if not torch.cuda.is_available():
                return {"ok": False, "error": "device", "message": "CUDA is not available to torch %s: %s" % (
                    torch.__version__, cuda_init_error())}
            props = torch.cuda.get_device_properties(0)
            info["device_name"] = props.name
            info["capability"] = "%d.%d" % (props.major, props.minor)
            info["sm_count"] = props.multi_processor_count
            info["memory_bytes"] = props.total_memory
            # Free memory sizes kopt's timing inputs (the reference's figure). It creates a CUDA
            # context: a candidate skips it, so NVML sees no building candidate on the GPU.
            if measure_free:
                try:
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


class ReferenceRole(ReferenceStream, Role):
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

    def trial(self, msg):
        """A verification trial: inputs from get_inputs() under input_seed (optionally
        stressed), outputs in float32 and float64. With timed_seed instead, the inputs are
        those a timed call got (timing_inputs), and they are not sent back."""
        send_inputs = "timed_seed" not in msg
        if msg.get("stream"):
            self.map_large_blocks()
        try:
            if send_inputs:
                # Created on the device where torch allows it: a KernelBench get_inputs() of 6 GiB
                # takes seconds on the CPU, milliseconds on the GPU (the same distribution).
                inputs = stressed(timing_inputs(self.module, int(msg["input_seed"]), self.device), msg.get("stress", "none"))
            else:
                inputs = timing_inputs(self.module, int(msg["timed_seed"]), self.device)
        except BaseException as exc:
            return error_reply("get_inputs", exc)
        if msg.get("inputs_only"):
            # An unchecked call's inputs: the candidate cannot tell it from a checked one.
            if msg.get("keep"):
                reply = {"ok": True}
                reply.update(self.comparer().keep({"inputs": inputs}))
                return reply
            bufs = []
            if msg.get("stream"):
                return self._stream_inputs(inputs)
            header = {"ok": True, "inputs": encode(inputs, bufs, where="input")}
            self.channel.send(header, bufs)
            return None
        call_seed = int(msg["call_seed"])
        pristine = inputs  # never handed to a model; each run gets its own copy
        work = clone_tree(inputs)
        restore_state(self.model, self.snapshot)
        seed_all(call_seed)
        before = rng_state(self.device)
        try:
            out32, seconds = self.forward(self.model, work)
        except BaseException as exc:
            return error_reply("forward", exc)
        after = rng_state(self.device)
        random = any(not torch.equal(a, b) for a, b in zip(before, after))
        mutated = not same_bytes(work, pristine)
        buffers32 = {k: v for k, v in named_buffers(self.model).items()}
        if msg.get("stream") and not msg.get("keep"):
            state = [pristine, work, out32, buffers32]
            del inputs, pristine, work, out32  # the streamed trial frees them as it goes
            return self._stream_trial(call_seed, state, random, mutated, seconds)
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
        if out64 is not None:
            out64 = cast_like(out64, out32)
            buffers64 = {k: cast_like(v, buffers32.get(k)) for k, v in buffers64.items()}
        header = {"ok": True, "random": random, "mutated": mutated, "seconds": seconds}
        if msg.get("keep"):
            # Outputs stay on the device: the comparer judges the candidate's there.
            try:
                header.update(self.comparer().keep({
                    "inputs": pristine, "work": work, "mutated": mutated, "random": random,
                    "sanity": bool(msg.get("sanity", True)),
                    "out32": {"out": out32, "buffers": buffers32},
                    "out64": None if out64 is None else {"out": out64, "buffers": buffers64}}))
            except ValueError as exc:
                return error_reply("output", exc)
            header["fp64"] = out64 is not None
            if out64 is None:
                header["fp64_error"] = self.model64_error
            return header
        bufs = []
        try:
            if send_inputs:
                header["inputs"] = encode(pristine, bufs, where="input")
            header["out32"] = encode({"out": out32, "buffers": buffers32}, bufs, strict=True)
            if out64 is not None:
                header["out64"] = encode({"out": out64, "buffers": buffers64}, bufs)
            else:
                header["fp64_error"] = self.model64_error
            if mutated and send_inputs:
                header["inputs_after"] = encode(work, bufs, where="input")
        except OutputRuleError as exc:
            return error_reply("output", exc)
        self.channel.send(header, bufs)
        return None

    def comparer(self):
        if getattr(self, "_comparer", None) is None:
            from kopt_comparer import Comparer
            self._comparer = Comparer(self.device)
        return self._comparer

    def fill(self, msg):
        return self.comparer().fill(msg)

    def compare(self, msg, payload):
        return self.comparer().compare(msg, payload)

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


class CandidateRole(CandidateStream, Role):
    """Untrusted: imports the candidate file."""

    def hello(self, msg):
        # torch._dynamo takes seconds to import (4.8 s on an H200, torch 2.11): only for a
        # candidate whose source names it (kopt reads the file), overlapping the reference's start.
        if msg.get("dynamo", True):
            _import_dynamo()
        info = Role.hello(self, msg, measure_free=False)
        fraction = msg.get("gpu_memory_fraction")
        if info.get("ok") and self.device == "cuda" and fraction:
            # Before any candidate code: torch's caching allocator refuses allocations past
            # this share of the device. A tripwire, not a driver limit (cudaMalloc from an
            # extension is not counted).
            try:
                torch.cuda.set_per_process_memory_fraction(float(fraction), 0)
                info["gpu_memory_fraction"] = float(fraction)
            except Exception as exc:
                info["gpu_memory_error"] = "%s: %s" % (type(exc).__name__, exc)
        return info

    def load(self, msg):
        if msg.get("arch_list"):
            # The worker may have started before kopt knew the device's capability
            # (it boots while the reference starts): builds read it from here.
            os.environ["TORCH_CUDA_ARCH_LIST"] = str(msg["arch_list"])
        # The workload (the user's file) generates this process's timing inputs; loaded
        # before the snapshot so its own imports are never blamed on the candidate.
        self.workload = None
        if msg.get("workload"):
            try:
                self.workload = load_module(msg["workload"], "kopt_timing_workload")
            except BaseException as exc:
                return error_reply("workload", exc)
        self.tripwire = build_tripwire()
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

    def prepare(self, msg):
        """Allocates this call's input tensors and exports their memory, for the comparer
        to write the inputs into (CUDA IPC: the trusted side maps this process's memory,
        never the reverse)."""
        from kopt_ipc import IpcError, export
        self.prepared = allocate(msg["inputs"], self.device)
        try:
            handles = [export(t) for t in tensors_of(self.prepared, [])]
        except IpcError as exc:
            return {"ok": False, "error": "ipc", "message": str(exc)[:300]}
        return {"ok": True, "handles": handles}

    def keep_outputs(self, msg, out):
        """Keeps the objects this call returned, as a caller would, until kopt releases
        them: a later call must not change them."""
        if not hasattr(self, "kept"):
            self.kept = {}
            self.prints = {}
            self.print_key = int.from_bytes(os.urandom(6), "little") | 1
        for k in msg.get("release", []):
            self.kept.pop(int(k), None)
            self.prints.pop(int(k), None)
        if "call_id" in msg:
            self.kept[int(msg["call_id"])] = out

    def fingerprint_outputs(self, msg):
        """Host path: a digest of this call's outputs as returned, for earlier() to
        compare after a later call (the device path's comparer reads them itself)."""
        if "call_id" in msg and int(msg["call_id"]) in getattr(self, "kept", {}):
            self.prints[int(msg["call_id"])] = fingerprint(self.kept[int(msg["call_id"])], tensors_of, self.print_key)

    def earlier(self, msg, out):
        """Whether the outputs of an earlier call (kopt names it) changed since it
        returned, and whether any of them shares memory with this call's outputs.
        Self-reported, like the host path's other snapshots."""
        key = msg.get("recheck")
        if key is None or int(key) not in getattr(self, "prints", {}):
            return None
        old = self.kept[int(key)]
        now = tensors_of(out, [])
        shared = any(overlaps(a, b) for a in tensors_of(old, []) for b in now)
        changed = fingerprint(old, tensors_of, self.print_key) != self.prints[int(key)]
        return {"changed": changed, "shared": shared}

    def call(self, msg, payload):
        if msg.get("prepared"):
            inputs = getattr(self, "prepared", None)
            self.prepared = None
            if inputs is None:
                return {"ok": False, "error": "protocol", "message": "call without prepared inputs"}
        elif msg.get("stream"):
            self.map_large_blocks()
            inputs = decode_stream(msg["inputs"], self.channel, self.device)
        else:
            inputs, _ = decode(msg["inputs"], payload, 0, self.device)
        restore_state(self.model, self.snapshot)
        poisoned = self.poison(msg.get("poison", []))
        seed_all(int(msg["call_seed"]))
        try:
            out, elapsed = self.forward(self.model, inputs)
        except BaseException as exc:
            return error_reply("forward", exc)
        buffers = {k: v for k, v in named_buffers(self.model).items()}
        self.keep_outputs(msg, out)
        if msg.get("stream"):
            return self._stream_reply(msg, inputs, out, buffers, elapsed, poisoned)
        bufs = []
        if msg.get("ipc"):
            from kopt_ipc import IpcError
            try:
                header = {"ok": True, "seconds": elapsed, "poisoned_bytes": poisoned,
                          "out": encode_ipc({"out": out, "buffers": buffers}, bufs)}
            except OutputRuleError as exc:
                return error_reply("output", exc)
            except IpcError as exc:
                return {"ok": False, "error": "ipc", "message": str(exc)[:300]}
            header["tampered"] = self.tripwire.changed()
            self.channel.send(header, bufs)
            return None
        try:
            header = {"ok": True, "seconds": elapsed, "poisoned_bytes": poisoned,
                      "out": encode({"out": out, "buffers": buffers}, bufs, strict=True)}
            header["inputs_after"] = encode(inputs, bufs, where="input")
            delay = float(msg.get("recheck_seconds", 0.0))
            if delay > 0:
                _sleep(delay)
            synchronize(self.device)
            header["out_later"] = encode({"out": out, "buffers": buffers}, bufs, strict=True)
            earlier = self.earlier(msg, out)
            if earlier is not None:
                header["earlier_changed"] = earlier["changed"]
                header["earlier_shared"] = earlier["shared"]
            self.fingerprint_outputs(msg)
        except OutputRuleError as exc:
            return error_reply("output", exc)
        header["tampered"] = self.tripwire.changed()
        self.channel.send(header, bufs)
        return None
