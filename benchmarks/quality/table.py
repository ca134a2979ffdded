#!/usr/bin/env python3
"""The result-quality table of issue 23, in Markdown for docs/benchmarks.md.

Usage: table.py [--kopt KOPT] [--title T] SUITE_DIR|RUN_DIR...
       table.py --json REPORT.json [--title T]      (a saved `kopt report --format json`)
       table.py --json REPORT.json --prompts --state STATE [--list]

Reads `kopt report --format json` (docs/report-schema.md, version 2). Per workload and
round r: the best speedup over the better baseline among the candidates of rounds 1..r
that the final gate timed (its median and 95% interval, bold when the gate called it
faster); a round with correct candidates but none gate-timed shows the best ranking
speedup in italics, marked "rank". The ceiling is the most an implementation doing the reference's work in its arithmetic could gain
over the best baseline (its distance to kopt's speed-of-light bound); "copy:" follows where the bound is memory's
and the baseline timed a plain copy: the ceiling at the copy's bandwidth. The last columns say what best.py is and whether
that respects the no-regression rule (best.py a baseline, or a candidate the gate
confirmed faster). Over the suite: the geometric mean of each workload's final figure
(gate medians; ranking figures are counted and said so) and fast_1.0 / fast_1.5: the
share of workloads whose best candidate the gate called faster with a median above p
(p = 1.0, 1.5). kopt's own suite figures follow for comparison.

--prompts prints the waiting prompts concatenated, each headed by the reply file to
write (under STATE/replies/); --list prints only the list.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys


def load_report(args):
    if args.json:
        with open(args.json) as f:
            doc = json.load(f)
    else:
        kopt = args.kopt or os.environ.get("KOPT") or shutil.which("kopt") or "build/kopt"
        out = subprocess.run([kopt, "report", *args.dirs, "--format", "json"], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"table.py: {kopt} report failed ({out.returncode}): {out.stderr.strip()[-500:]}")
        doc = json.loads(out.stdout)
    if doc.get("kopt_report") != 2:
        sys.exit(f"table.py: kopt_report {doc.get('kopt_report')!r}, this script reads version 2")
    return doc


def fmt_x(v):
    return "—" if v is None else f"{v:.2f}×"


def gate_cell(c):
    s = f"{c['speedup']:.2f}× [{c['low']:.2f}, {c['high']:.2f}]"
    return f"**{s}**" if c.get("faster") else s


def gated(rec):
    c = rec.get("claim")
    if isinstance(c, dict) and c.get("outcome") == "correct" and c.get("speedup") is not None \
            and c.get("low") is not None:
        return c
    return None


def round_figure(records, r, finished):
    """(kind, value, cell) for rounds 1..r: kind 'gate', 'rank', 'none' or 'pending'."""
    upto = [x for x in records if (x.get("round") or 0) <= r]
    if not any(x.get("round") == r for x in records):
        return ("pending", None, "—" if finished else "not reached")
    claims = [(gated(x), x) for x in upto if gated(x)]
    if claims:
        c, x = max(claims, key=lambda t: t[0]["speedup"])
        return ("gate", c, gate_cell(c))
    ranked = [x for x in upto if x.get("outcome") == "correct" and x.get("speedup") is not None]
    if ranked:
        x = max(ranked, key=lambda t: t["speedup"])
        wait = " (waiting)" if any(y.get("status") == "pending" and y.get("round") == r for y in upto) else ""
        return ("rank", x["speedup"], f"*{x['speedup']:.2f}× rank*{wait}")
    if any(x.get("status") == "pending" for x in upto):
        return ("pending", None, "waiting")
    done = [x.get("outcome") or x.get("status") for x in upto]
    return ("none", None, "none correct (" + ", ".join(sorted(set(done))) + ")")


def best_py_cell(run, records):
    bp = run.get("best_py") or {}
    if bp.get("source") == "candidate":
        rec = next((x for x in records if x.get("id") == bp.get("id")), {})
        c = gated(rec)
        ok = bool(c and c.get("faster"))
        return f"candidate {bp.get('id'):04d} {gate_cell(c) if c else '(no gate figure)'}", "yes" if ok else "**NO**"
    if bp.get("source") == "baseline":
        # The fastest candidate the gate timed, for the interval the no-regression rule rests on.
        claims = [gated(x) for x in records if gated(x)]
        best = max(claims, key=lambda c: c["speedup"]) if claims else None
        why = f"; best gated candidate {gate_cell(best)}" if best else ""
        return f"baseline {bp.get('baseline')}{why}", "yes"
    return "—", "—"


def table(doc, title):
    runs = [r for r in doc["runs"]]
    nrounds = max([3] + [x.get("round") or 0 for r in runs for x in r.get("records", [])])
    lines = []
    if title:
        lines.append(f"**{title}**\n")
    head = ["workload", "best baseline (ms)", "ceiling"] + [f"round {i}" for i in range(1, nrounds + 1)] + \
        ["best.py", "never slower", "status"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    finals = []
    for run in sorted(runs, key=lambda r: r.get("workload_name") or r.get("workload", "")):
        name = (run.get("workload_name") or os.path.basename(run.get("workload", "?"))).removesuffix(".py")
        if run.get("status") == "not_started":
            lines.append(f"| {name} | — | — | " + " | ".join(["not started"] * nrounds) + " | — | — | not_started |")
            continue
        records = run.get("records", [])
        b = run.get("baselines") or {}
        base = f"{b.get('best')} {b['best_ms']:.3f}" if b.get("ok") and b.get("best_ms") else \
            f"none ({b.get('error') or 'no timing'})"
        cells, last = [], ("pending", None, "")
        for r in range(1, nrounds + 1):
            fig = round_figure(records, r, run.get("status") in ("finished", "input_error"))
            cells.append(fig[2])
            if fig[0] != "pending":
                last = fig
        finals.append((name, last))
        bp, ok = best_py_cell(run, records)
        room = run.get("headroom") or {}
        ceiling = fmt_x(room.get("ceiling"))
        practical = room.get("practical_ceiling")
        if isinstance(practical, (int, float)) and practical > 0:  # memory-bound, with the baseline's copy test
            # Past the copy (past_copy, or a ratio under 1 from a kopt before that flag): no room the copy shows.
            past = room.get("past_copy") or practical < 1
            ceiling += " (copy: 1.00×, the baseline is past it)" if past else f" (copy: {fmt_x(practical)})"
        lines.append(f"| {name} | {base} | {ceiling} | " + " | ".join(cells) + f" | {bp} | {ok} | {run.get('status')} |")
    lines.append("")
    gate_vals = [f[1]["speedup"] for _, f in finals if f[0] == "gate"]
    rank_vals = [f[1] for _, f in finals if f[0] == "rank"]
    vals = gate_vals + rank_vals
    n = len(finals)
    geo = math.exp(sum(math.log(v) for v in vals) / len(vals)) if vals else None

    def fast(p):
        k = sum(1 for _, f in finals if f[0] == "gate" and f[1].get("faster") and f[1]["speedup"] > p)
        return f"{k}/{n} = {k / n:.2f}" if n else "—"

    note = f" ({len(rank_vals)} of them ranking only)" if rank_vals else ""
    lines.append(f"Suite: {n} workloads; geometric mean {fmt_x(geo)} over {len(vals)} with a figure{note}; "
                 f"fast_1.0 {fast(1.0)}, fast_1.5 {fast(1.5)} (gate: faster, median above p). "
                 f"Goal (issue 23): geomean ≥ 1.5×, fast_1.0 ≥ 0.75.")
    s = doc.get("suite")
    if s:
        fp = s.get("fast_p") or {}
        lines.append(f"kopt's own suite line: geomean {fmt_x(s.get('geomean_speedup'))} over "
                     f"{s.get('workloads_with_speedup')}, fast_1.0 {fp.get('1.0')}, fast_1.5 {fp.get('1.5')}, "
                     f"fast_2.0 {fp.get('2.0')}.")
        if s.get("geomean_ceiling"):
            lines.append(f"Ceiling (the most an implementation doing the reference's work in its arithmetic could "
                         f"gain over the best baseline, from kopt's speed-of-light bound, a compute bound at its "
                         f"peak's precision; 3xTF32 tensor-core GEMMs and skipped work pass it): geometric mean "
                         f"{fmt_x(s['geomean_ceiling'])} over {s.get('workloads_with_ceiling')} workload(s).")
    waiting = sum(len(r.get("waiting_prompts") or []) for r in runs)
    if waiting:
        lines.append(f"Prompts waiting for replies: {waiting}.")
    return "\n".join(lines)


def reply_path(prompt_path, state):
    """STATE/replies/<kind>/shard-I[/<workload>]/NNNN.reply.md for a prompt of that run's inbox."""
    parts = prompt_path.split("/")
    for i, p in enumerate(parts):
        if p in ("files", "builtin") and i + 1 < len(parts) and parts[i + 1].startswith("shard-"):
            rel = parts[i:-2]  # drop inbox/NNNN.prompt.md
            num = parts[-1].split(".")[0]
            return os.path.join(state, "replies", *rel, f"{num}.reply.md"), os.path.join(state, *parts[i:])
    return None, prompt_path


def prompts(doc, state, only_list):
    out = []
    for run in doc["runs"]:
        for w in run.get("waiting_prompts") or []:
            reply, local = reply_path(w["path"], state)
            if reply and (os.path.exists(reply) or os.path.exists(reply[:-3] + ".py")):
                continue
            if only_list:
                out.append(f"{local}\t->\t{reply}")
                continue
            src = w["path"] if os.path.exists(w["path"]) else local
            try:
                text = open(src, encoding="utf-8", errors="replace").read()
            except OSError as e:
                text = f"(unreadable: {e})"
            out.append(f"=== prompt {local}\n=== reply to {reply}\n\n{text}\n")
    if only_list:
        print(f"{len(out)} prompt(s) waiting (prompt -> reply file to write):")
    print("\n".join(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="*")
    ap.add_argument("--json")
    ap.add_argument("--kopt")
    ap.add_argument("--title", default="")
    ap.add_argument("--prompts", action="store_true")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--state", default="benchmarks/quality/state")
    args = ap.parse_args()
    if not args.json and not args.dirs:
        ap.error("give SUITE_DIR... or --json REPORT.json")
    doc = load_report(args)
    if args.prompts:
        prompts(doc, args.state, args.list)
    else:
        print(table(doc, args.title))


if __name__ == "__main__":
    main()
