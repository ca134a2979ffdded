"""Writes a frame to the control socket (fd 3) that claims a 3 GiB payload, then sends
1 GiB of it, 64 MiB at a time: kopt must refuse the frame at its header, not buffer it."""
import json
import os
import struct
import time

import torch.nn as nn

PIECE = b"\0" * (64 << 20)


class ModelNew(nn.Module):
    def forward(self, x):
        text = json.dumps({"ok": True, "payload": 3 << 30}).encode()
        try:
            os.write(3, struct.pack("<I", len(text)) + text)
            for _ in range(16):
                view = memoryview(PIECE)
                while view:
                    view = view[os.write(3, view):]
        except OSError:
            pass
        time.sleep(30)
        return x
