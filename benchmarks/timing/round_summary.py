"""One line per result of a gpu_round.sh call, against the issue's goals, so a device
call's output ends with what it measured: python3 round_summary.py LOGDIR

  agree    kopt baseline / do_bench (goal: within 3% from 50 us up)
  repeat   kopt baseline run three times (goal: spread under 2%)
  null     a workload against an identical copy (goal: interval contains 1, median
           within 2%)
  fused    kopt's speedup for the fused kernel / do_bench's ratio (goal: within 5%)
  tests    each timing test that ran, and how it ended
Lines of nvml_effect.py, warmth.py and variants.py are printed as they are.  A step's
diagnostic (agree@nonvml, ...) shows as its folder: lane0/nonvml/agree."""
import glob
import json
import os
import re
import sys


def rows(path):
    out = []
    for line in open(path, errors="replace"):
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def where(root, path):
    return os.path.dirname(os.path.relpath(path, root))


def host_bound(host):
    return sum(h.get("host_bound_batches", 0) for h in (host or {}).values() if isinstance(h, dict))


def agree(root, path):
    for j in rows(path):
        ratio = j.get("kopt_over_do_bench")
        if ratio is None:
            print("agree  %-24s %-12s no figure: %s" % (where(root, path), j.get("workload"), j.get("error")))
            continue
        big = (j.get("do_bench_ms") or 0) >= 0.05
        verdict = ("within 3%" if abs(ratio - 1) <= 0.03 else "OFF by %.1f%%" % ((ratio - 1) * 100)) if big \
            else "below 50 us"
        cupti = "CUPTI %.2f us, " % j["cupti_us"] if j.get("cupti_us") else ""  # the kernels' own time
        print("agree  %-24s %-12s kopt %8.2f us  do_bench %8.2f us  %.3f  %s  (%s%s calls a batch, %d host-bound)" % (
            where(root, path), j["workload"], j["kopt_ms"] * 1000, j["do_bench_ms"] * 1000, ratio, verdict,
            cupti, j.get("calls_per_batch"), (j.get("host") or {}).get("host_bound_batches", 0)))


def repeat(root, path):
    runs, before = {}, {}
    for j in rows(path):
        if j.get("kopt_ms"):
            runs.setdefault(j["workload"], []).append(j["kopt_ms"] * 1000)
            pre = (j.get("presync") or {}).get("median_ms")
            if pre:
                before.setdefault(j["workload"], []).append(pre * 1000)
    for name, ms in runs.items():
        spread = (max(ms) - min(ms)) / min(ms) * 100
        # The figure up to the event before the closing synchronize, run by run: what
        # the spread would be without the tail (docs/benchmarks.md, "Eighth session").
        pre = before.get(name, [])
        extra = ("  (before the synchronize: spread %.1f%%)" % ((max(pre) - min(pre)) / min(pre) * 100)
                 if len(pre) == len(ms) and pre else "")
        print("repeat %-24s %-12s %s us  spread %.1f%%  %s%s" % (
            where(root, path), name, " ".join("%.2f" % m for m in ms), spread,
            "under 2%" if spread < 2 else "NOT under 2%", extra))


def null(root, path):
    for j in rows(path):
        s, lo, hi = j.get("speedup"), j.get("low"), j.get("high")
        if s is None:
            print("null   %-24s %-12s no speedup: %s" % (where(root, path), j.get("workload"), j.get("reason")))
            continue
        ok = lo <= 1 <= hi and abs(s - 1) <= 0.02
        print("null   %-24s %-12s %.3f [%.3f, %.3f]  eager %.2f us  %s" % (
            where(root, path), j["workload"], s, lo, hi, (j.get("eager_ms") or 0) * 1000,
            "pass" if ok else "FAIL"))


def fused(root, path):
    lines = rows(path)
    bench = {os.path.basename(j.get("file", "")): j["do_bench_ms"] for j in lines if "do_bench_ms" in j}
    claim = [j for j in lines if "speedup" in j]
    if not claim:
        print("fused  %-24s no claim finished" % where(root, path))
        return
    j = claim[-1]
    ratio = None
    eager, fast = bench.get("swish_32m.py"), bench.get("swish_32m_fused.py")
    if eager and fast:
        ratio = eager / fast
    ve, vc = j["speedup"].get("vs_eager") or {}, j["speedup"].get("vs_compile") or {}
    line = "fused  %-24s %s  kopt %.2fx [%.2f, %.2f] over eager" % (
        where(root, path), j.get("outcome"), ve.get("median", 0), ve.get("low", 0), ve.get("high", 0))
    if ratio:
        off = ve.get("median", 0) / ratio
        line += "  do_bench %.2fx  %.3f %s" % (ratio, off, "within 5%" if abs(off - 1) <= 0.05 else "OFF")
    if vc:
        line += "  | over compile %.2fx [%.2f, %.2f]" % (vc.get("median", 0), vc.get("low", 0), vc.get("high", 0))
    line += "  | eager %.1f compile %.1f fused %.1f us, %d host-bound" % (
        (j.get("eager_ms") or 0) * 1000, (j.get("compile_ms") or 0) * 1000, (j.get("fused_ms") or 0) * 1000,
        host_bound(j.get("host")))
    print(line)


def tests(root, path):
    seen = {}
    for line in open(path, errors="replace"):
        m = re.match(r"\[ +(RUN|OK|FAILED) +\] ([\w.]+)(?: \((\d+) ms\))?", line.strip())
        if m:
            state, name, ms = m.groups()
            if state == "RUN":
                seen.setdefault(name, "did not finish")
            else:
                seen[name] = state + (" (%.1f s)" % (int(ms) / 1000) if ms else "")
    for name, state in seen.items():
        print("tests  %-24s %s: %s" % (where(root, path), name, state))


def raw(root, path):
    for j in rows(path):
        print("%-6s %-24s %s" % (os.path.basename(path).split(".")[0], where(root, path), json.dumps(j)))


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "/tmp/kopt-gpu-round"
    kinds = [("agree.jsonl", agree), ("repeat.jsonl", repeat), ("null.jsonl", null), ("fused.jsonl", fused),
             ("timing_tests.log", tests), ("nvml.jsonl", raw), ("warmth.jsonl", raw), ("variants.jsonl", raw)]
    for name, show in kinds:
        for path in sorted(glob.glob(os.path.join(root, "**", name), recursive=True)):
            show(root, path)


if __name__ == "__main__":
    main()
