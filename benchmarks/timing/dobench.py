"""triton.testing.do_bench medians (ms) for workloads, as kopt's reference point:
python3 dobench.py W.py [CANDIDATE.py] -> one JSON line per file."""
import importlib.util
import json
import sys

import torch


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def bench(path, cls):
    from triton.testing import do_bench
    m = load(path, "w_" + cls)
    torch.manual_seed(0)
    w = load(sys.argv[1], "w_inputs")  # the workload gives init args and inputs
    model = getattr(m, cls)(*w.get_init_inputs()).cuda()
    inputs = [t.cuda() if isinstance(t, torch.Tensor) else t for t in w.get_inputs()]
    with torch.no_grad():
        fn = lambda: model(*inputs)  # noqa: E731
        runs = [do_bench(fn, warmup=100, rep=500, return_mode="median") for _ in range(3)]
    return {"file": path, "class": cls, "do_bench_ms": sorted(runs)[1], "runs": runs}


if __name__ == "__main__":
    print(json.dumps(bench(sys.argv[1], "Model")))
    for extra in sys.argv[2:]:
        print(json.dumps(bench(extra, "ModelNew")))
