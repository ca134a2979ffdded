"""Writes its own malformed frame to the control socket (fd 3) instead of returning."""
import json
import os
import struct
import time

import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        text = json.dumps({"ok": 1, "payload": 0}).encode()
        os.write(3, struct.pack("<I", len(text)) + text)
        time.sleep(5)
        return x
