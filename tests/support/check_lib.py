"""What the check scripts of this folder share (compare_check.py, stopwatch_check.py):
importing it skips the script (exit 77) where torch is missing and puts the harness
folder (argv[1]) on the path; check() records a failure, finish() ends the script."""
import importlib.util
import sys

if importlib.util.find_spec("torch") is None:
    print("torch is not installed: skipped")
    sys.exit(77)

sys.path.insert(0, sys.argv[1])

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def finish(name):
    if failures:
        print("%d failure(s)" % len(failures))
        sys.exit(1)
    print("%s: all passed" % name)
