"""Where kopt's stopwatch and do_bench part ways: one workload timed several ways on the
GPU, each the median over many calls (ms).  python3 variants.py W.py [N [CANDIDATE.py]]
-> one JSON line; N 0 picks the batch size; CANDIDATE's ModelNew is timed instead of W's
Model (tests/cases/c_time_side_stream_async.py on w_elementwise.py hides work).

  do_bench        triton.testing.do_bench(median), one input, 256 MB flush, per-call events
  call_fresh      per-call events after a 128 MB flush, a fresh input each call
  call_same       the same, one input every call
  batch_fresh     kopt's way: sync, N x (flush, call), sync, minus a null batch (N flushes)
  batch_same      the same with one input
  batch_nosync    batch_fresh without the trailing device-wide synchronize
  batch_poll      batch_fresh, polling the stream until done before that synchronize
  batch_presync   the figure from an event recorded before the closing synchronize, and
                  tail_excess_per_batch: how much longer than a null batch's the time
                  from that event to one after the synchronize was (hidden work shows)
  batch_flush256  batch_fresh with do_bench's 256 MB flush
  batch_keep      batch_fresh keeping every output, as kopt's checked batches do
  batch_held      batch_fresh behind a sleep kernel, so the host has queued the whole
                  batch before it starts: no launch gaps, whatever the host's speed
  held_events     batch_held with an event pair around every call, as do_bench places
                  them (after the flush): the batch's figure (what the events add to the
                  GPU's time), held_events_inner, the median event-to-event interval, and
                  held_events_empty, the same in the null batch (a pair around nothing)
  flush_events    batch_held with an event pair around every flush instead: the median
                  flush after a call (flush_after_call) and after a flush (a null batch's,
                  flush_after_flush). kopt subtracts the second; if the first is shorter
                  (a call leaves fewer dirty L2 lines than a flush), kopt reads low by the
                  difference
  enqueue_per_call  host time to queue one (flush, call), against the GPU's batch_fresh
  batch_gap       batch_fresh with the GPU idle for 5 ms before every batch (as in kopt)
  batch_prep      kopt's order: fresh inputs generated before every batch and null batch
  batch_prep_gap  the same, with the 5 ms idle too
"""
import importlib.util
import json
import statistics
import sys
import time

import torch


def load(path):
    spec = importlib.util.spec_from_file_location("w", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def inputs_for(w, seed):
    torch.manual_seed(seed)
    with torch.device("cuda"):
        return list(w.get_inputs())


def per_call(fn, xs, buf, reps):
    times = []
    for _ in range(reps):
        pairs = []
        for x in xs:
            buf.zero_()
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn(x)
            e.record()
            pairs.append((s, e))
        torch.cuda.synchronize()
        times += [s.elapsed_time(e) for s, e in pairs]
    return statistics.median(times)


ENQUEUE = []


def batch(fn, xs, buf, trailing_sync=True, poll=False, keep=False, hold=0, gap=0.0):
    torch.cuda.synchronize()
    if gap:  # the GPU idle first, as between kopt's batches
        time.sleep(gap)
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    if hold:
        torch.cuda._sleep(hold)
    s.record()
    kept = []
    t0 = time.perf_counter()
    for x in xs:
        buf.zero_()
        if fn is not None:
            out = fn(x)
            if keep:
                kept.append(out)
    if fn is not None:
        ENQUEUE.append((time.perf_counter() - t0) * 1000.0 / len(xs))
    if poll:  # wait by polling, then synchronize (tried in kopt, not kept)
        mark = torch.cuda.Event()
        mark.record()
        while not mark.query():
            pass
    if trailing_sync:
        torch.cuda.synchronize()
    e.record()
    e.synchronize()
    return s.elapsed_time(e)


def batched(fn, xs, buf, reps, trailing_sync=True, poll=False, keep=False, hold=0, gap=0.0):
    per = []
    for _ in range(reps):  # batch and null alternate, as drift would otherwise bias one
        b = batch(fn, xs, buf, trailing_sync, poll, keep, hold, gap)
        n = batch(None, xs, buf, trailing_sync, poll, False, hold, gap)
        per.append((b - n) / len(xs))
    return statistics.median(per)


def prepared(fn, w, n, buf, reps, gap=0.0):
    """kopt's order: fresh inputs generated on the device before every batch and every
    null batch (time_prepare), a synchronize, then the batch."""
    per, seed = [], 1000
    for _ in range(reps):
        figures = []
        for f in (fn, None):
            xs = [inputs_for(w, seed + i) for i in range(n)]
            seed += n
            torch.cuda.synchronize()
            figures.append(batch(f, xs, buf, gap=gap))
            del xs
        per.append((figures[0] - figures[1]) / n)
    return statistics.median(per)


def held_events(fn, xs, buf, reps, hold=10_000_000):
    """batch_held with per-call events between the flush and the call, as do_bench has
    them: (the batch's figure per call, minus a null batch's; the median inner interval;
    the median interval of the null batch's pairs, around no call).
    The first against batch_held is what the events cost the GPU; the second is the
    figure do_bench's method gives inside the same batch."""
    per, inner, empty = [], [], []
    for _ in range(reps):
        figures = []
        for f in (fn, None):
            torch.cuda.synchronize()
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda._sleep(hold)
            s.record()
            pairs = []
            for x in xs:
                buf.zero_()
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                if f is not None:
                    f(x)
                b.record()
                pairs.append((a, b))
            torch.cuda.synchronize()
            e.record()
            e.synchronize()
            figures.append(s.elapsed_time(e))
            (inner if f is not None else empty).extend(a.elapsed_time(b) for a, b in pairs)
        per.append((figures[0] - figures[1]) / len(xs))
    return statistics.median(per), statistics.median(inner), statistics.median(empty)


def flush_events(fn, xs, buf, reps, hold=10_000_000):
    """Median flush interval in a held batch of calls and in a held null batch, each
    flush between an event pair (ms): (after a call, after a flush)."""
    medians = []
    for f in (fn, None):
        times = []
        for _ in range(reps):
            torch.cuda.synchronize()
            torch.cuda._sleep(hold)
            pairs = []
            for x in xs:
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                buf.zero_()
                b.record()
                pairs.append((a, b))
                if f is not None:
                    f(x)
            torch.cuda.synchronize()
            times += [a.elapsed_time(b) for a, b in pairs[1:]]  # the first follows the sleep
        medians.append(statistics.median(times))
    return medians[0], medians[1]


def split_batch(fn, xs, buf):
    """One batch with an event before the closing synchronize (`mid`) and one after it:
    (start to mid, mid to end) in ms."""
    torch.cuda.synchronize()
    s, m, e = (torch.cuda.Event(enable_timing=True) for _ in range(3))
    s.record()
    for x in xs:
        buf.zero_()
        if fn is not None:
            fn(x)
    m.record()
    torch.cuda.synchronize()
    e.record()
    e.synchronize()
    return s.elapsed_time(m), m.elapsed_time(e)


def split_batched(fn, xs, buf, reps):
    """The figure from the event before the synchronize, per call; and how much longer
    the tail after it was than a null batch's, per batch (work left on other streams
    would show there)."""
    per, tail = [], []
    for _ in range(reps):
        bh, bt = split_batch(fn, xs, buf)
        nh, nt = split_batch(None, xs, buf)
        per.append((bh - nh) / len(xs))
        tail.append(bt - nt)
    return statistics.median(per), statistics.median(tail)


def main():
    w = load(sys.argv[1])
    torch.manual_seed(0)
    cls = getattr(load(sys.argv[3]), "ModelNew") if len(sys.argv) > 3 else w.Model
    model = cls(*w.get_init_inputs()).cuda()
    fn = lambda x: model(*x)  # noqa: E731
    one = inputs_for(w, 1)
    with torch.no_grad():
        for _ in range(20):
            fn(one)
        torch.cuda.synchronize()
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn(one)
        e.record()
        e.synchronize()
        rough = s.elapsed_time(e)
        n = int(sys.argv[2]) if len(sys.argv) > 2 else 0
        n = n or max(1, min(64, int(2.0 / max(rough, 1e-3))))
        xs = [inputs_for(w, 100 + i) for i in range(n)]
        same = [one] * n
        buf = torch.empty(128 << 18, dtype=torch.int32, device="cuda")
        buf256 = torch.empty(256 << 18, dtype=torch.int32, device="cuda")
        reps = 15
        out = {"workload": sys.argv[1].rsplit("/", 1)[-1], "calls": n, "rough_ms": rough}
        from triton.testing import do_bench
        out["do_bench"] = do_bench(lambda: fn(one), warmup=100, rep=300, return_mode="median")
        out["call_fresh"] = per_call(fn, xs, buf, reps)
        out["call_same"] = per_call(fn, same, buf, reps)
        out["batch_fresh"] = batched(fn, xs, buf, reps)
        out["enqueue_per_call"] = statistics.median(ENQUEUE)
        out["batch_keep"] = batched(fn, xs, buf, reps, keep=True)
        out["batch_held"] = batched(fn, xs, buf, reps, hold=10_000_000)
        out["held_events"], out["held_events_inner"], out["held_events_empty"] = held_events(fn, xs, buf, reps)
        out["flush_after_call"], out["flush_after_flush"] = flush_events(fn, xs, buf, reps)
        out["batch_held_keep"] = batched(fn, xs, buf, reps, keep=True, hold=10_000_000)
        out["batch_gap"] = batched(fn, xs, buf, reps, gap=0.005)
        out["batch_prep"] = prepared(fn, w, n, buf, reps)
        out["batch_prep_gap"] = prepared(fn, w, n, buf, reps, gap=0.005)
        out["batch_same"] = batched(fn, same, buf, reps)
        out["batch_nosync"] = batched(fn, xs, buf, reps, trailing_sync=False)
        out["batch_poll"] = batched(fn, xs, buf, reps, poll=True)
        out["batch_presync"], out["tail_excess_per_batch"] = split_batched(fn, xs, buf, reps)
        out["batch_flush256"] = batched(fn, xs, buf256, reps)
        out["do_bench_again"] = do_bench(lambda: fn(one), warmup=100, rep=300, return_mode="median")
    print(json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in out.items()}))


if __name__ == "__main__":
    main()
