"""Is a batch that follows idle time slower, and what warms it?  kopt's batches follow a
request through a pipe (the host and the GPU idle for a while); a user's calls follow one
another.  One plain process times kopt's batch (synchronize, N x (flush, call),
synchronize, minus a null batch of N flushes, every figure per call in ms) several ways,
interleaved so drift hits every mode alike:

  nogap     batches back to back (variants.py's batch_fresh)
  gap       the host sleeps GAP ms before every batch and null batch
  spin      gap, then the host spins 0.3 ms before the opening synchronize
  wake      gap, then a 0.3 ms sleep kernel before the opening synchronize
  head      gap, then a 0.2 ms sleep kernel inside the timed span, first thing after
            the start event (in the null batch too, so it cancels): the host queues the
            first calls while the GPU sleeps
  warmcall  gap, then one untimed call on a spare input before the opening synchronize

first_enqueue / rest_enqueue: host time to queue the first (flush, call) of a `gap`
batch and the mean of the others.  do_bench is triton's median on one input.

python3 warmth.py W.py N [CANDIDATE.py [GAP_MS [REPS]]] -> one JSON line."""
import json
import statistics
import sys
import time

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from variants import inputs_for, load  # noqa: E402

SLEEP_CYCLES_PER_US = 2000  # about 2 GHz, as kopt's diagnostics assume


def batch(fn, xs, buf, gap_s, mode, spare, enq):
    torch.cuda.synchronize()
    if gap_s:
        time.sleep(gap_s)
    if mode == "spin":
        t = time.perf_counter() + 0.0003
        while time.perf_counter() < t:
            pass
    elif mode == "wake":
        torch.cuda._sleep(300 * SLEEP_CYCLES_PER_US)
    elif mode == "warmcall":
        buf.zero_()
        if fn is not None:
            fn(spare)
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    if mode == "head":
        torch.cuda._sleep(200 * SLEEP_CYCLES_PER_US)
    marks = [time.perf_counter()]
    for x in xs:
        buf.zero_()
        if fn is not None:
            fn(x)
        marks.append(time.perf_counter())
    torch.cuda.synchronize()
    e.record()
    e.synchronize()
    if enq is not None and fn is not None:
        enq[0].append((marks[1] - marks[0]) * 1000.0)
        enq[1].append((marks[-1] - marks[1]) * 1000.0 / max(1, len(xs) - 1))
    return s.elapsed_time(e)


def main():
    w = load(sys.argv[1])
    n = int(sys.argv[2])
    cls = getattr(load(sys.argv[3]), "ModelNew") if len(sys.argv) > 3 and sys.argv[3] != "-" else w.Model
    gap_s = (float(sys.argv[4]) if len(sys.argv) > 4 else 2.0) / 1000.0
    reps = int(sys.argv[5]) if len(sys.argv) > 5 else 25
    torch.manual_seed(0)
    model = cls(*w.get_init_inputs()).cuda()
    fn = lambda x: model(*x)  # noqa: E731
    buf = torch.empty(128 << 18, dtype=torch.int32, device="cuda")
    xs = [inputs_for(w, 100 + i) for i in range(n)]
    spare = inputs_for(w, 99)
    modes = ["nogap", "gap", "spin", "wake", "head", "warmcall"]
    per = {m: [] for m in modes}
    enq = ([], [])
    with torch.no_grad():
        for _ in range(20):
            fn(spare)
        from triton.testing import do_bench
        d = do_bench(lambda: fn(spare), warmup=100, rep=300, return_mode="median")
        for _ in range(reps):
            for m in modes:
                g = 0.0 if m == "nogap" else gap_s
                b = batch(fn, xs, buf, g, m, spare, enq if m == "gap" else None)
                z = batch(None, xs, buf, g, m, spare, None)
                per[m].append((b - z) / n)
    out = {"workload": sys.argv[1].rsplit("/", 1)[-1], "model": cls.__name__, "calls": n,
           "gap_ms": gap_s * 1000, "reps": reps, "device": torch.cuda.get_device_name(0), "do_bench": round(d, 5)}
    out.update({m: round(statistics.median(v), 5) for m, v in per.items()})
    out["first_enqueue"] = round(statistics.median(enq[0]), 4)
    out["rest_enqueue"] = round(statistics.median(enq[1]), 4)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
