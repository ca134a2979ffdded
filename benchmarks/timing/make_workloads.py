"""Writes the timing benchmark's workloads (KernelBench format) into a directory, from
about 10 us to about 20 ms of eager time on an H100, plus for each a candidate that is
the reference itself (the null test) and one honest fused kernel."""
import os
import sys

ELEMENTWISE = '''import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


def get_inputs():
    return [torch.randn({n})]


def get_init_inputs():
    return []
'''

MATMUL = '''import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, a, b):
        return a @ b


def get_inputs():
    return [torch.randn({n}, {n}), torch.randn({n}, {n})]


def get_init_inputs():
    return []
'''

SOFTMAX = '''import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, x):
        return torch.softmax(x, dim=-1)


def get_inputs():
    return [torch.randn({rows}, {cols})]


def get_init_inputs():
    return []
'''

CONV = '''import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(64, 64, 3, padding=1)
        self.bn = nn.BatchNorm2d(64)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


def get_inputs():
    return [torch.randn({batch}, 64, 128, 128)]


def get_init_inputs():
    return []
'''

MLP = '''import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(4096, 16384)
        self.down = nn.Linear(16384, 4096)

    def forward(self, x):
        return self.down(torch.nn.functional.gelu(self.up(x)))


def get_inputs():
    return [torch.randn({batch}, 4096)]


def get_init_inputs():
    return []
'''

# The honest fused kernel, shared with the files-provider round (benchmarks/files_round.sh).
FUSED_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "replies", "swish_fused_cuda.py")

WORKLOADS = [
    ("swish_256k", ELEMENTWISE.format(n=256 * 1024)),
    ("swish_2m", ELEMENTWISE.format(n=2 * 1024 * 1024)),
    ("swish_8m", ELEMENTWISE.format(n=8 * 1024 * 1024)),
    ("swish_16m", ELEMENTWISE.format(n=16 * 1024 * 1024)),
    ("swish_32m", ELEMENTWISE.format(n=32 * 1024 * 1024)),
    ("swish_128m", ELEMENTWISE.format(n=128 * 1024 * 1024)),
    ("matmul_1024", MATMUL.format(n=1024)),
    ("matmul_1536", MATMUL.format(n=1536)),
    ("matmul_2048", MATMUL.format(n=2048)),
    ("matmul_4096", MATMUL.format(n=4096)),
    ("matmul_8192", MATMUL.format(n=8192)),
    ("softmax_8k", SOFTMAX.format(rows=8192, cols=8192)),
    ("conv_bn_relu_32", CONV.format(batch=32)),
    ("mlp_256", MLP.format(batch=256)),
    ("mlp_2048", MLP.format(batch=2048)),
]


def main(out):
    os.makedirs(out, exist_ok=True)
    for name, text in WORKLOADS:
        with open(os.path.join(out, name + ".py"), "w") as f:
            f.write(text)
        with open(os.path.join(out, name + "_self.py"), "w") as f:
            f.write(text + "\n\nModelNew = Model\n")
    with open(FUSED_PATH) as src, open(os.path.join(out, "swish_32m_fused.py"), "w") as f:
        f.write(src.read())
    print("\n".join(name for name, _ in WORKLOADS))


if __name__ == "__main__":
    main(sys.argv[1])
