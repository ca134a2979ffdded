"""Does asking NVML about the GPU slow the batch that follows?  One plain process times
kopt's batch (variants.py's `batch_fresh`: synchronize, N x (flush, call), synchronize,
minus a null batch of N flushes) with NVML queried just before each batch and each null
batch, several ways, interleaved so drift hits every mode alike:

  none          no query (as variants.py)
  all           what kopt samples: SM and memory clocks, temperature, power, throttle
                reasons, the processes with a compute context
  cheap         all but the process list
  procs         the process list only
  all_sleep200  all, then the host sleeps 0.2 ms before the batch
  all_sleep2000 all, then 2 ms
  all_prep      all, then fresh inputs generated on the device (kopt's order since the
                sixth session: NVML before time_prepare, not between it and time_run)

python3 nvml_effect.py W.py [N [REPS]] -> one JSON line: per-call medians (ms) per mode,
and the host time of each NVML query (median, ms).  NVML is found by the GPU's UUID, as
kopt does, so CUDA_VISIBLE_DEVICES is respected."""
import ctypes
import json
import statistics
import sys
import time

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from variants import batch, inputs_for, load  # noqa: E402


class Nvml:
    def __init__(self):
        self.lib = ctypes.CDLL("libnvidia-ml.so.1")
        assert self.lib.nvmlInit_v2() == 0
        uuid = str(torch.cuda.get_device_properties(0).uuid)
        uuid = uuid if uuid.startswith(("GPU-", "MIG-")) else "GPU-" + uuid
        self.dev = ctypes.c_void_p()
        assert self.lib.nvmlDeviceGetHandleByUUID(uuid.encode(), ctypes.byref(self.dev)) == 0, uuid
        self.cost = {}
        self.procs = getattr(self.lib, "nvmlDeviceGetComputeRunningProcesses_v3", None) or \
            self.lib.nvmlDeviceGetComputeRunningProcesses
        self.throttle = getattr(self.lib, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            self.lib.nvmlDeviceGetCurrentClocksThrottleReasons

    def _timed(self, name, fn):
        t0 = time.perf_counter()
        fn()
        self.cost.setdefault(name, []).append((time.perf_counter() - t0) * 1000.0)

    def cheap(self):
        u, r = ctypes.c_uint(), ctypes.c_ulonglong()
        self._timed("sm_clock", lambda: self.lib.nvmlDeviceGetClockInfo(self.dev, 1, ctypes.byref(u)))
        self._timed("mem_clock", lambda: self.lib.nvmlDeviceGetClockInfo(self.dev, 2, ctypes.byref(u)))
        self._timed("temperature", lambda: self.lib.nvmlDeviceGetTemperature(self.dev, 0, ctypes.byref(u)))
        self._timed("power", lambda: self.lib.nvmlDeviceGetPowerUsage(self.dev, ctypes.byref(u)))
        self._timed("throttle", lambda: self.throttle(self.dev, ctypes.byref(r)))

    def processes(self):
        count = ctypes.c_uint(64)
        buf = (ctypes.c_ubyte * (64 * 64))()
        self._timed("processes", lambda: self.procs(self.dev, ctypes.byref(count), buf))

    def all(self):
        self.cheap()
        self.processes()


def main():
    w = load(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    torch.manual_seed(0)
    model = w.Model(*w.get_init_inputs()).cuda()
    fn = lambda x: model(*x)  # noqa: E731
    nvml = Nvml()
    buf = torch.empty(128 << 18, dtype=torch.int32, device="cuda")
    xs = [inputs_for(w, 100 + i) for i in range(n)]

    def prep():
        fresh = [inputs_for(w, 5000 + i) for i in range(n)]
        torch.cuda.synchronize()
        del fresh

    modes = {
        "none": lambda: None,
        "all": nvml.all,
        "cheap": nvml.cheap,
        "procs": nvml.processes,
        "all_sleep200": lambda: (nvml.all(), time.sleep(0.0002)),
        "all_sleep2000": lambda: (nvml.all(), time.sleep(0.002)),
        "all_prep": lambda: (nvml.all(), prep()),
    }
    per = {m: [] for m in modes}
    with torch.no_grad():
        for _ in range(10):
            batch(fn, xs, buf)
            batch(None, xs, buf)
        for _ in range(reps):
            for name, before in modes.items():
                before()
                b = batch(fn, xs, buf)
                before()
                z = batch(None, xs, buf)
                per[name].append((b - z) / n)
    out = {"workload": sys.argv[1].rsplit("/", 1)[-1], "calls": n, "reps": reps,
           "device": torch.cuda.get_device_name(0)}
    out.update({m: round(statistics.median(v), 5) for m, v in per.items()})
    out["nvml_ms"] = {k: round(statistics.median(v), 4) for k, v in nvml.cost.items()}
    out["nvml_max_ms"] = {k: round(max(v), 4) for k, v in nvml.cost.items()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
