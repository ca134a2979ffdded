"""kopt worker harness: the comparer (trusted; runs in the reference worker on CUDA).

Outputs never leave the GPU. For each checked trial the reference keeps its inputs and its
fp32 and fp64 outputs on the device (`keep`); the candidate allocates its input tensors
and exports them (CandidateRole.prepare); the comparer writes the inputs into them
(`fill`); after the candidate's call returns and its device work is synchronized, the
comparer copies the candidate's outputs out of the candidate's memory into its own and
compares the copies here (`compare`). Only figures and verdicts go to kopt.

What the comparer checks from its own side (no word of the candidate's harness needed):
structure, finiteness, closeness and exact integers (kopt_compare); that the outputs did
not change after the copy (`background`, re-read after the comparison); that the inputs
it wrote are unchanged, or changed as the reference changes them (`inputs`); and that the
previous checked call's outputs are unchanged after this call and share no memory with
its outputs (`reuse`: a candidate that hands back one reused buffer is not a drop-in
replacement).
"""

import os

import torch

from kopt_common import _perf_counter, _sleep, synchronize
from kopt_compare import compare, fingerprint, sanity
from kopt_ipc import Importer, IpcError
from kopt_values import DTYPES, OutputRuleError, bits, decode, dtype_name, encode, tensors_of


def spec_tree(value):
    """value's structure with tensors described (dtype, shape, device) and no bytes;
    other leaves as encode writes them."""
    if isinstance(value, torch.Tensor):
        return {"t": "tensor", "dtype": dtype_name(value.dtype), "shape": list(value.shape),
                "device": value.device.type, "nbytes": 0, "spec": True}
    if isinstance(value, (list, tuple)):
        return {"t": "list" if isinstance(value, list) else "tuple", "items": [spec_tree(v) for v in value]}
    if isinstance(value, dict):
        return {"t": "dict", "keys": [spec_tree(k) for k in value.keys()], "items": [spec_tree(v) for v in value.values()]}
    try:
        return encode(value, [])
    except OutputRuleError as exc:
        raise ValueError(str(exc))


class CandidateValueError(Exception):
    """The candidate's reply describes memory the comparer cannot read as it says."""


class Comparer:
    def __init__(self, device):
        self.device = device
        self.importer = Importer()
        self.key = int.from_bytes(os.urandom(6), "little") | 1  # the fingerprint's secret
        self.kept = None
        self.input_specs = None
        self.last = None  # (output tensor specs, fingerprint) of the last compared call

    # --- the reference's side of a trial -------------------------------------------

    def keep(self, trial):
        """Keeps a trial's tensors on the device; returns the reply's fields."""
        self.kept = trial
        self.input_specs = None
        reply = {"inputs": spec_tree(trial["inputs"])}
        if trial.get("out32") is not None and not trial.get("sanity", True):
            reply["out_spec"] = spec_tree(trial["out32"])
        elif trial.get("out32") is not None:
            reply["out_spec"] = spec_tree(trial["out32"])
            zero, constant = sanity(trial["out32"]["out"], tensors_of)
            reply["sanity"] = {"all_zero": zero, "constant": constant,
                               "fingerprint": "%016x" % fingerprint(trial["out32"]["out"], tensors_of, self.key)}
        reply["bytes"] = sum(t.numel() * t.element_size() for t in tensors_of(trial["inputs"], []))
        if trial.get("out32") is not None:
            reply["bytes"] += sum(t.numel() * t.element_size() for t in tensors_of(trial["out32"]["out"], []))
        return reply

    def fill(self, msg):
        if self.kept is None:
            return {"ok": False, "error": "protocol", "message": "fill without a kept trial"}
        tensors = tensors_of(self.kept["inputs"], [])
        specs = msg.get("handles", [])
        if len(specs) != len(tensors):
            return {"ok": True, "candidate_error": "the candidate prepared %d input tensors, expected %d"
                    % (len(specs), len(tensors))}
        start = _perf_counter()
        try:
            for t, spec in zip(tensors, specs):
                if t.device.type != "cuda":
                    return {"ok": False, "error": "input", "message": "a CPU input cannot be filled through CUDA IPC"}
                self.importer.view(spec, t.dtype, list(t.shape)).copy_(t)
            synchronize(self.device)
        except (IpcError, RuntimeError, KeyError, TypeError, ValueError) as exc:
            return {"ok": True, "candidate_error": "its input memory cannot be written: %s" % _line(exc)}
        self.input_specs = specs
        return {"ok": True, "seconds": _perf_counter() - start}

    # --- the candidate's outputs ------------------------------------------------------

    def _materialize(self, j, payload, pos, views):
        """The candidate's value tree from its reply: tensors copied out of its memory
        (through IPC) or read from the payload kopt forwarded (CPU tensors)."""
        t = j["t"]
        if t in ("none", "bool", "int", "str", "float"):
            return decode(j, b"", pos, "cpu")
        if t in ("list", "tuple"):
            out = []
            for item in j["items"]:
                v, pos = self._materialize(item, payload, pos, views)
                out.append(v)
            return (out if t == "list" else tuple(out)), pos
        if t == "dict":
            out = {}
            for k, item in zip(j["keys"], j["items"]):
                key, pos = self._materialize(k, payload, pos, views)
                out[key], pos = self._materialize(item, payload, pos, views)
            return out, pos
        if t == "tensor":
            dtype = DTYPES.get(j["dtype"])
            if dtype is None:
                raise CandidateValueError("unknown dtype %r" % j["dtype"])
            shape = [int(n) for n in j["shape"]]
            if any(n < 0 for n in shape):
                raise CandidateValueError("negative shape")
            if "ipc" in j:
                view = self.importer.view(j["ipc"], dtype, shape)
                views.append((j["ipc"], view))
                return view.clone(memory_format=torch.contiguous_format), pos
            n = int(j["nbytes"])
            if n < 0 or pos + n > len(payload):
                raise CandidateValueError("tensor bytes beyond the payload")
            raw = torch.frombuffer(bytearray(payload[pos:pos + n]), dtype=torch.uint8) if n else torch.empty(0, dtype=torch.uint8)
            tensor = (raw.to(torch.bool) if dtype == torch.bool else raw.view(dtype)).reshape(shape)
            return tensor, pos + n
        raise CandidateValueError("unknown value tag %r" % t)

    def compare(self, msg, payload):
        """Compares the candidate's outputs (msg["out"]) with the kept trial."""
        if self.kept is None or self.kept.get("out32") is None:
            return {"ok": False, "error": "protocol", "message": "compare without a kept trial"}
        seconds = {}
        start = _perf_counter()
        views = []
        try:
            cand, _ = self._materialize(msg["out"], payload or b"", 0, views)
            synchronize(self.device)
        except (IpcError, CandidateValueError, RuntimeError, KeyError, TypeError, ValueError) as exc:
            return {"ok": True, "candidate_error": "its outputs cannot be read as described: %s" % _line(exc)}
        copied = _perf_counter()
        seconds["copy"] = copied - start
        if not isinstance(cand, dict) or set(cand.keys()) != {"out", "buffers"}:
            return {"ok": True, "candidate_error": "malformed output frame"}
        kept = self.kept
        opts = {"stress": bool(msg.get("stress")), "precision": msg.get("precision", "fp32"),
                "allow_ties": bool(msg.get("allow_ties")),
                "fp32_only": bool(msg.get("fp32_only")) or kept.get("random") or kept.get("out64") is None}
        r32 = kept["out32"]
        r64 = kept["out64"] if kept.get("out64") is not None else r32
        result = compare(cand["out"], r32["out"], r64["out"], opts)
        if result["ok"]:
            result = self._buffers(cand["buffers"], r32["buffers"], r64.get("buffers", r32["buffers"]), opts, result)
        seconds["compare"] = _perf_counter() - copied
        reply = {"ok": True, "result": result, "seconds": seconds}
        # Background writers: the outputs read again, at least recheck_seconds after the copy.
        wait = float(msg.get("recheck_seconds", 0.0)) - (_perf_counter() - copied)
        if wait > 0:
            _sleep(wait)
        synchronize(self.device)
        reply["background"] = self._unchanged(views, cand)
        if msg.get("check_inputs", True):
            reply["inputs"] = self._inputs()
        if msg.get("check_reuse", True):
            reply["reuse"] = self._reuse(views, cand)
        seconds["checks"] = _perf_counter() - copied - seconds["compare"]
        self.kept = None  # frees the trial's device memory before the next one
        return reply

    def _buffers(self, cb, rb, rb64, opts, result):
        figures = result["figures"]
        for name, ref in rb.items():
            if name not in cb or not isinstance(cb[name], torch.Tensor) or list(cb[name].shape) != list(ref.shape):
                continue
            r = compare(cb[name], ref, rb64.get(name, ref), opts)
            for k in ("elements_over", "elements_compared", "ties"):
                figures[k] += r["figures"][k]
            if not r["ok"]:
                r["detail"] = "buffer %s after the call: %s" % (name, r["detail"])
                r["figures"] = figures
                return r
        return result

    def _unchanged(self, views, cand):
        copies = tensors_of(cand, [])
        if len(copies) < len(views):
            return "outputs could not be matched to their memory"
        # views are in the order tensors were read, which is tensors_of's order for IPC
        # tensors; CPU tensors were read from the payload and cannot change.
        ipc_copies = [c for c in copies if c.device.type == "cuda"]
        for (_, view), copy in zip(views, ipc_copies):
            if not torch.equal(bits(view), bits(copy)):
                return "outputs changed after the call returned (a background writer)"
        return ""

    def _inputs(self):
        if self.input_specs is None:
            return ""
        pristine = tensors_of(self.kept["inputs"], [])
        expected = tensors_of(self.kept["work"], []) if self.kept.get("mutated") else pristine
        for spec, t, want in zip(self.input_specs, pristine, expected):
            try:
                now = self.importer.view(spec, t.dtype, list(t.shape))
            except IpcError as exc:
                return "its input memory cannot be read: %s" % _line(exc)
            if self.kept.get("mutated"):
                r = compare(now.clone(), want, want, {"fp32_only": True})
                if not r["ok"]:
                    return "inputs after the call differ from the reference's: " + r["detail"]
            elif not torch.equal(bits(now), bits(t)):
                return "the candidate modified its inputs in place"
        return ""

    def _reuse(self, views, cand):
        n_out = sum(1 for t in tensors_of(cand["out"], []) if t.device.type == "cuda")
        out_views = views[:n_out]
        message = ""
        if self.last is not None:
            last_specs, last_print = self.last
            for spec, _ in out_views:
                for old in last_specs:
                    if _overlap(spec, old[0]):
                        message = "an output shares memory with an earlier call's output (one buffer returned by every call)"
                        break
                if message:
                    break
            if not message:
                try:
                    again = [self.importer.view(s, DTYPES[d], shape) for s, d, shape in last_specs]
                    synchronize(self.device)
                    if fingerprint(again, tensors_of, self.key) != last_print:
                        message = "an earlier call's output changed during a later call (its buffer was reused)"
                except IpcError:
                    message = "an earlier call's output memory was released while the caller still held it"
        copies = [c for c in tensors_of(cand["out"], []) if c.device.type == "cuda"]
        specs = [(spec, dtype_name(view.dtype), list(view.shape)) for spec, view in out_views]
        self.last = (specs, fingerprint(copies, tensors_of, self.key)) if specs else None
        return message

    def close(self):
        self.importer.close_all()


def _overlap(a, b):
    if not a.get("handle") or a.get("handle") != b.get("handle"):
        return False
    a0, b0 = int(a["offset"]), int(b["offset"])
    return a0 < b0 + int(b["storage_bytes"]) and b0 < a0 + int(a["storage_bytes"])


def _line(exc):
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
