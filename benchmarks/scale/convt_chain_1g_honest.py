import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, output_padding):
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                       output_padding=output_padding)

    def forward(self, x):
        x = self.conv(x)
        e = torch.exp(x - x.amax(dim=1, keepdim=True))
        return torch.sigmoid(e / e.sum(dim=1, keepdim=True))
