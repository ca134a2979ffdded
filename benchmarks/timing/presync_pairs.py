"""The speedup a claim would report from the figure before the closing synchronize
(detail.presync.block_ms, measured beside kopt's figure): median of the pair ratios
eager / candidate with a bootstrap 95% interval, as kopt computes its own.
python3 presync_pairs.py CLAIM.json... -> one JSON line per file."""
import json
import random
import statistics
import sys


def interval(ratios, rounds=2000):
    rng = random.Random(1)
    meds = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(rounds))
    return meds[int(0.025 * rounds)], meds[int(0.975 * rounds) - 1]


def main(paths):
    for path in paths:
        t = (json.load(open(path)).get("timing") or {})
        blocks = {k: (((t.get(k) or {}).get("detail") or {}).get("presync") or {}).get("block_ms") or []
                  for k in ("eager", "candidate")}
        pairs = [e / c for e, c in zip(blocks["eager"], blocks["candidate"]) if c and c > 0]
        row = {"file": path, "pairs": len(pairs)}
        if pairs:
            low, high = interval(pairs)
            row.update(median=statistics.median(pairs), low=low, high=high,
                       kopt=(t.get("speedup") or {}).get("vs_eager"))
        print(json.dumps(row))


if __name__ == "__main__":
    main(sys.argv[1:])
