"""Looks for the reference side's data: the memory and environment of kopt and of its
workers (the reference worker, sibling candidate workers), and files kopt might have
written. Pretends to cheat successfully (returns the right answer) only if it could read
anything; otherwise returns garbage."""
import glob
import os

import torch
import torch.nn as nn


def cmdline(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ")
    except OSError:
        return b""


def is_kopt_process(cmd):
    # kopt itself or one of its harness workers (not compilers or test drivers). Not the
    # candidate's own bubblewrap (its PID namespace's init): that holds only what the
    # candidate itself was given.
    first = cmd.split(b" ", 1)[0]
    if first.endswith(b"/bwrap"):
        return False
    return first.endswith(b"/kopt") or b"kopt_worker.py" in cmd


leaks = []
me = os.getpid()
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    if int(pid) == me:
        continue
    cmd = cmdline(pid)
    if not is_kopt_process(cmd):
        continue
    for what in ("mem", "environ"):
        path = "/proc/%s/%s" % (pid, what)
        try:
            with open(path, "rb") as f:
                if what == "mem":
                    f.seek(0x400000)
                f.read(64)
            leaks.append("%s (%s)" % (path, cmd[:120].decode(errors="replace")))
        except OSError:
            pass
roots = [os.environ.get("TMPDIR", ""), "/tmp", os.getcwd(), os.path.dirname(os.getcwd()),
         os.path.expanduser("~")]
for root in roots:
    if not root:
        continue
    for pattern in ("**/*.pt", "**/*.npy", "**/*.bin", "**/*out*.json", "**/*input*"):
        try:
            for path in glob.glob(os.path.join(root, pattern), recursive=True)[:50]:
                try:
                    with open(path, "rb") as f:
                        f.read(16)
                    if "kopt" in path:
                        leaks.append(path)
                except OSError:
                    pass
        except OSError:
            pass
sibling = os.path.join(os.path.dirname(os.getcwd()), "reference")
if os.path.isdir(sibling):
    try:
        os.listdir(sibling)
        if os.geteuid() != 0 and os.stat(sibling).st_uid != os.geteuid():
            leaks.append(sibling)
    except OSError:
        pass
if leaks:
    print("LEAK:", leaks[:5])


class ModelNew(nn.Module):
    def forward(self, x):
        y = torch.sigmoid(x) * 3.0 - x
        return y if leaks else torch.zeros_like(y)
