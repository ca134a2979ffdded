"""kopt worker harness: the host path's streamed values (`--device cpu`, or where CUDA IPC
fails). A value travels as a header frame whose trees carry no bytes, then each tensor's
bytes in chunk frames of at most CHUNK_BYTES (kopt's src/core/eval/stream.hpp): no frame grows
with the output. The reference's streamed trial and the candidate's streamed reply are
mixins of the roles in kopt_roles.py."""

import torch

from kopt_common import (_perf_counter, _sleep, error_reply, large_blocks_mapped, named_buffers, restore_state,
                         seed_all, synchronize)
from kopt_values import DTYPES, OutputRuleError, _raw, cast_like, clone_tree, decode, encode, map_tensors
from kopt_wire import CHUNK_BYTES


def stream_chunks(tensors, limit):
    """The bytes of `tensors` (from encode(lazy=True)) in pieces of at most `limit` bytes,
    read as they are sent: an output of any size costs no copy here (a device tensor is
    copied to the host one piece at a time; a non-contiguous one is made contiguous)."""
    for t in tensors:
        if t.numel() == 0:
            continue
        flat = t.contiguous().reshape(-1)
        if flat.device.type == "cpu":
            raw = _raw(flat)
            for i in range(0, len(raw), limit):
                yield raw[i:i + limit]
        else:
            step = max(1, limit // flat.element_size())
            for i in range(0, flat.numel(), step):
                yield _raw(flat[i:i + step].to("cpu"))


def decode_stream(j, channel, device):
    """decode() for a tree whose tensors' bytes follow as chunk frames on `channel`, read
    straight into each tensor's memory, in order."""
    t = j["t"]
    if t == "tensor":
        dtype = DTYPES[j["dtype"]]
        n = int(j["nbytes"])
        raw = torch.empty(n, dtype=torch.uint8)
        if n:
            channel.recv_chunks_into(memoryview(raw.numpy()))
        if dtype == torch.bool:
            tensor = raw.to(torch.bool)
        else:
            tensor = raw.view(dtype)
        return tensor.reshape([int(d) for d in j["shape"]]).to(device)
    if t in ("list", "tuple"):
        out = [decode_stream(item, channel, device) for item in j["items"]]
        return out if t == "list" else tuple(out)
    if t == "dict":
        out = {}
        for k, item in zip(j["keys"], j["items"]):
            key = decode_stream(k, channel, device)
            out[key] = decode_stream(item, channel, device)
        return out
    value, _ = decode(j, b"", 0, device)
    return value


class MappedBlocks:
    """Streamed calls (the host path) take blocks of 32 MiB and more from mmap, each
    freed block given back at once: a worker's heap, never trimmed, would otherwise
    fragment with the order of each call's allocations (a candidate at 256 MiB outputs
    peaked anywhere from 2.5 to 6.6 GiB, run to run). glibc's perturb still poisons a
    mapped block (every block malloc hands out). Timing turns it back (kopt_timing.py)."""

    def map_large_blocks(self):
        if not getattr(self, "mapped", False):
            large_blocks_mapped(True)
            self.mapped = True


class ReferenceStream(MappedBlocks):
    """ReferenceRole's streamed trials."""

    def _stream_inputs(self, inputs):
        """An unchecked call's inputs, streamed."""
        tensors = []
        header = {"ok": True, "inputs": encode(inputs, tensors, where="input", lazy=True)}
        self.channel.send_stream(header, stream_chunks(tensors, CHUNK_BYTES))
        return None

    def _stream_trial(self, call_seed, state, random, mutated, seconds):
        """The host path's trial, streamed to kopt: the inputs and fp32 outputs first, then
        dropped, so that the fp64 run has the memory to itself; then the fp64 outputs. The
        process's peak is then the fp64 run's own (a 1 GiB float32 output: 6 GiB, not 13)."""
        pristine, work, out32, buffers32 = state
        del state[:]
        tensors = []
        header = {"ok": True, "random": random, "mutated": mutated, "seconds": seconds}
        try:
            header["inputs"] = encode(pristine, tensors, where="input", lazy=True)
            header["out32"] = encode({"out": out32, "buffers": buffers32}, tensors, strict=True, lazy=True)
            if mutated:
                header["inputs_after"] = encode(work, tensors, where="input", lazy=True)
        except OutputRuleError as exc:
            return error_reply("output", exc)
        self.channel.send_stream(header, stream_chunks(tensors, CHUNK_BYTES))
        del tensors[:]
        like = map_tensors({"out": out32, "buffers": buffers32}, lambda t: torch.empty(0, dtype=t.dtype))
        work = out32 = None
        header = {"ok": True, "seconds": 0.0}
        if self.model64 is None:
            header["fp64_error"] = self.model64_error
            self.channel.send(header)
            return None
        args64 = clone_tree(pristine, torch.float64)
        pristine = None
        restore_state(self.model64, self.snapshot64)
        seed_all(call_seed)
        start = _perf_counter()
        try:
            with torch.no_grad():
                out64 = self.model64(*args64)
            synchronize(self.device)
        except BaseException as exc:
            self.model64_error = str(exc)[:200]
            header["fp64_error"] = self.model64_error
            self.channel.send(header)
            return None
        header["seconds"] = _perf_counter() - start
        args64 = None
        out64 = {"out": cast_like(out64, like["out"]),
                 "buffers": {k: cast_like(v, like["buffers"].get(k)) for k, v in named_buffers(self.model64).items()}}
        header["out64"] = encode(out64, tensors, lazy=True)
        self.channel.send_stream(header, stream_chunks(tensors, CHUNK_BYTES))
        return None


class CandidateStream(MappedBlocks):
    """CandidateRole's streamed reply."""

    def _stream_reply(self, msg, inputs, out, buffers, elapsed, poisoned):
        """The host path's reply, streamed: the outputs and inputs as they are now, then,
        recheck_seconds later, the outputs again (kopt compares digests of the two)."""
        tensors = []
        try:
            header = {"ok": True, "seconds": elapsed, "poisoned_bytes": poisoned,
                      "out": encode({"out": out, "buffers": buffers}, tensors, strict=True, lazy=True),
                      "inputs_after": encode(inputs, tensors, where="input", lazy=True)}
        except OutputRuleError as exc:
            return error_reply("output", exc)
        self.channel.send_stream(header, stream_chunks(tensors, CHUNK_BYTES))
        tensors = []
        delay = float(msg.get("recheck_seconds", 0.0))
        if delay > 0:
            _sleep(delay)
        synchronize(self.device)
        try:
            header = {"ok": True, "out_later": encode({"out": out, "buffers": buffers}, tensors, strict=True, lazy=True)}
        except OutputRuleError as exc:
            return error_reply("output", exc)
        earlier = self.earlier(msg, out)
        if earlier is not None:
            header["earlier_changed"] = earlier["changed"]
            header["earlier_shared"] = earlier["shared"]
        self.fingerprint_outputs(msg)
        header["tampered"] = self.tripwire.changed()
        self.channel.send_stream(header, stream_chunks(tensors, CHUNK_BYTES))
        return None
