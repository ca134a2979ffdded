"""A stack sampler for kopt's workers, for finding where a slow phase spends its time:
PYTHONPATH=benchmarks/timing/sampler KOPT_SAMPLE_DIR=DIR kopt eval ...  Every Python
process started then samples its main thread's stack every 20 ms and rewrites
DIR/<pid>.txt every 2 s with the most frequent stacks (innermost 6 frames) and counts.
Time spent inside a C call shows as the Python line that made it."""
import collections
import os
import sys
import threading
import time

_dir = os.environ.get("KOPT_SAMPLE_DIR")
if _dir:
    def _loop(main_id):
        counts = collections.Counter()
        last = time.monotonic()
        path = os.path.join(_dir, "%d.txt" % os.getpid())
        while True:
            time.sleep(0.02)
            frame = sys._current_frames().get(main_id)
            stack = []
            while frame is not None and len(stack) < 6:
                code = frame.f_code
                stack.append("%s:%d %s" % (os.path.basename(code.co_filename), frame.f_lineno, code.co_name))
                frame = frame.f_back
            counts[" <- ".join(stack)] += 1
            if time.monotonic() - last > 2:
                last = time.monotonic()
                try:
                    with open(path, "w") as f:
                        f.write("argv: %s\nsamples: %d (20 ms each)\n" % (" ".join(sys.argv)[:200], sum(counts.values())))
                        for stack, n in counts.most_common(25):
                            f.write("%6d  %s\n" % (n, stack))
                except OSError:
                    pass

    os.makedirs(_dir, exist_ok=True)
    threading.Thread(target=_loop, args=(threading.main_thread().ident,), daemon=True).start()
