"""A workload whose forward is killed by the kernel's out-of-memory killer, for real: it
moves itself into a memory cgroup of its own (cgroup v1, as root; the test skips where it
cannot make one) limited to 64 MiB and allocates past it. The kill stays inside that
cgroup. kopt must say the machine's memory ran out, not that the workload is broken."""
import os

import torch
import torch.nn as nn


def _confine():
    group = "/sys/fs/cgroup/memory/kopt-test-oom-%d" % os.getpid()
    os.mkdir(group)
    with open(group + "/memory.limit_in_bytes", "w") as f:
        f.write(str(64 << 20))
    with open(group + "/cgroup.procs", "w") as f:
        f.write(str(os.getpid()))


class Model(nn.Module):
    def forward(self, x):
        _confine()
        hoard = []
        for _ in range(256):
            hoard.append(bytearray(16 << 20))  # zero-filled: every page is touched
        return x + len(hoard)


def get_inputs():
    return [torch.randn(16)]


def get_init_inputs():
    return []
