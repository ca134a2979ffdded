"""kopt worker harness: kopt's timing primitives (the Stopwatch), timing inputs, profiles
and the Nsight Compute range. kopt decides batch sizes, seeds and checks; this runs them
(docs/measurement.md)."""

import gc
import time
import traceback
import warnings

import torch

from kopt_common import error_reply, large_blocks_mapped, seed_all, synchronize
from kopt_ipc import IpcError
from kopt_values import OutputRuleError, encode, encode_ipc, tensors_of, to_device

# Captured before any user code runs; the stopwatch uses only these.
_perf_counter = time.perf_counter
_Event = torch.cuda.Event
_gpu_sleep = getattr(torch.cuda, "_sleep", None)  # a private API: absent, no head sleep


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
        if getattr(self.role, "mapped", False):
            large_blocks_mapped(False)  # timed calls allocate from the heap, as the candidate's do
            self.role.mapped = False
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
        woke = None
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
                        # The sleep counts cycles, so it lasts longer when the SM clock is
                        # lower: its own length is reported, and kopt subtracts it instead of
                        # trusting the null batch's to match (docs/measurement.md).
                        woke = _Event(enable_timing=True)
                        woke.record()
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
                    sleep_ms = start.elapsed_time(woke) if woke is not None else 0.0
                else:
                    ms = head_ms = (_perf_counter() - t0) * 1000.0
                    sleep_ms = 0.0
        except BaseException as exc:
            return error_reply("forward", exc)
        finally:
            collections = sum(st["collections"] for st in gc.get_stats()) - collections
            if gc_was:
                gc.enable()
        self.outputs = outputs
        # No tripwire here: walking it takes milliseconds, which would blur kopt's
        # outside clock. The next prepare reports what changed during this run.
        return {"ok": True, "ms": ms, "head_ms": head_ms, "sleep_ms": sleep_ms, "calls": len(self.inputs), "enqueue_ms": enqueue_ms,
                "gc_collections": collections}

    def output(self, msg):
        index = int(msg["index"])
        if not 0 <= index < len(self.outputs):
            return {"ok": False, "error": "protocol", "message": "no kept output %d" % index}
        bufs = []
        try:
            if msg.get("ipc"):  # the comparer reads it on the device (kopt_comparer)
                header = {"ok": True, "out": encode_ipc(self.outputs[index], bufs)}
            else:
                header = {"ok": True, "out": encode(self.outputs[index], bufs, strict=True)}
        except OutputRuleError as exc:
            return error_reply("output", exc)
        except IpcError as exc:
            return {"ok": False, "error": "ipc", "message": str(exc)[:300]}
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

    def copy(self, msg):
        """The bandwidth a plain copy reaches on this device: the memory bound a kernel can
        practically reach, beside the datasheet's. A buffer of msg["bytes"] (kopt sizes it
        past L2; here at most a quarter of the free memory) copied twice to warm up, then
        msg["reps"] times, each timed alone (CUDA events; the clock on a CPU); the median.
        The traffic counted is the read and the write. A device without room for the
        buffers gives no figure: {"ok": False, "error": why}."""
        nbytes, reps = int(msg["bytes"]), int(msg.get("reps", 10))
        if nbytes <= 0 or not 1 <= reps <= 100:
            raise ValueError("time_copy needs bytes > 0 and 1 <= reps <= 100")
        cuda = self.device == "cuda"
        src = dst = None
        try:
            if cuda:
                nbytes = min(nbytes, int(torch.cuda.mem_get_info()[0]) // 4)
            n = nbytes // 4
            if n < (1 << 18):
                return {"ok": False, "error": "too little free memory for a copy of 1 MiB"}
            # Written once before timing: the pages are mapped, as a workload's buffers are.
            src = torch.ones(n, dtype=torch.float32, device=self.device)
            dst = torch.zeros(n, dtype=torch.float32, device=self.device)
            median = time_copies(dst, src, reps, self.device)
            if not median > 0:
                return {"ok": False, "error": "the copy took no measurable time"}
            return {"ok": True, "bytes": 4 * n, "reps": reps, "seconds": median,
                    "bytes_per_second": 2.0 * 4 * n / median}
        except BaseException as exc:
            return {"ok": False, "error": exception_line(exc)}
        finally:
            del src, dst
            if cuda:
                torch.cuda.empty_cache()

    def profile(self, msg):
        """Top kernels by device time over a few calls on fresh inputs (torch.profiler),
        and the work one call must do: bytes in and out, and flops where torch counts them."""
        key = msg["model"]
        model = self.role.timed_model(key)
        seeds = [int(s) for s in msg["seeds"]]
        module = self.role.timing_module()
        result = {"ok": True, "kernels": [], "flops": None, "math": math_modes()}
        try:
            # Every call's inputs first, as the stopwatch makes them before its calls: made
            # after a call, they would take the memory its outputs freed, and on a CPU each
            # profiled call would then fault in fresh pages for its outputs (10 times the
            # timed figure for a softmax on a 2-core VM: the timed calls reuse theirs).
            batches = [timing_inputs(module, s, self.device) for s in seeds[1:]]
            inputs = timing_inputs(module, seeds[0], self.device)
            with torch.no_grad():
                out = model(*inputs)
            synchronize(self.device)
            nbytes = sum(t.numel() * t.element_size() for t in tensors_of(inputs, []))
            nbytes += sum(t.numel() * t.element_size() for t in tensors_of(out, []))
            if isinstance(model, torch.nn.Module):
                nbytes += sum(p.numel() * p.element_size() for p in model.parameters())
            del out
            result["bytes"] = nbytes
            result["flops"] = count_flops(model, inputs)
            from torch.profiler import profile as _profile, ProfilerActivity
            activities = [ProfilerActivity.CPU]
            if self.device == "cuda":
                activities.append(ProfilerActivity.CUDA)
            # One profile per call: a kernel's time is its median over the calls, so one
            # preempted call (common on a shared CPU) does not set the figures.
            per_call = []
            with warnings.catch_warnings():
                # torch 2.11 warns of "cycles" on every session, with none scheduled.
                warnings.filterwarnings("ignore", message=r"Warning: Profiler clears events", category=UserWarning)
                for inp in batches:
                    with _profile(activities=activities) as prof:
                        with torch.no_grad():
                            model(*inp)
                        synchronize(self.device)
                    per_call.append(kernel_rows(prof, self.device))
            result["kernels"] = top_kernels(per_call)
        except BaseException as exc:
            result["error"] = exception_line(exc)
        return result


def exception_line(exc):
    """The exception as its one-line text, at most 300 characters: a profile's or a copy
    test's error, which leaves the reply ok."""
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()[:300]


def time_copies(dst, src, reps, device):
    """The median seconds of `reps` copies of src into dst, after two untimed: each timed
    alone, with CUDA events on cuda, the clock otherwise (Stopwatch.copy)."""
    times = []
    for k in range(reps + 2):
        synchronize(device)
        if device == "cuda":
            start, end = _Event(enable_timing=True), _Event(enable_timing=True)
            start.record()
            dst.copy_(src)
            end.record()
            end.synchronize()
            seconds = start.elapsed_time(end) / 1000.0
        else:
            t0 = _perf_counter()
            dst.copy_(src)
            seconds = _perf_counter() - t0
        if k >= 2:
            times.append(seconds)
    return _median(times)


def math_modes():
    """The TF32 switches in force now (after the workload's import and init): which peak
    bounds its convolutions and matmuls."""
    return {"cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
            "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32)}


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


def kernel_rows(prof, device):
    """{kernel name: (self time in us, launches)} of one profiled call: device time on
    cuda, CPU time otherwise."""
    rows = {}
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
        name = evt.key[:200]
        t, n = rows.get(name, (0.0, 0))
        rows[name] = (t + float(us), n + int(evt.count))
    return rows


def _median(xs):
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2.0


def top_kernels(per_call):
    """The 12 kernels with the most time per call: each kernel's median over the calls
    (0 in a call where it did not run), its share of the medians' sum."""
    if not per_call:
        return []
    names = set()
    for rows in per_call:
        names.update(rows)
    med = []
    for name in names:
        us = _median([rows.get(name, (0.0, 0))[0] for rows in per_call])
        if us > 0:
            med.append((name, us, _median([rows.get(name, (0.0, 0))[1] for rows in per_call])))
    total = sum(us for _, us, _ in med) or 1.0
    med.sort(key=lambda r: (-r[1], r[0]))
    return [{"name": name, "us_per_call": us, "launches_per_call": float(n), "share": us / total}
            for name, us, n in med[:12]]
