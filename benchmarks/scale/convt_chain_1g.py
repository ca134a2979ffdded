"""KernelBench-size ConvTranspose2d + softmax + sigmoid: 128 x 64 x 64 x 64 in, 128 x 128 x 128 x 128 out (1 GiB)."""
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, output_padding):
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                       output_padding=output_padding)

    def forward(self, x):
        x = self.conv(x)
        x = torch.softmax(x, dim=1)
        return torch.sigmoid(x)


batch_size = 128
in_channels = 64
out_channels = 128
height = width = 64
kernel_size = 3
stride = 2
padding = 1
output_padding = 1


def get_inputs():
    return [torch.rand(batch_size, in_channels, height, width)]


def get_init_inputs():
    return [in_channels, out_channels, kernel_size, stride, padding, output_padding]
