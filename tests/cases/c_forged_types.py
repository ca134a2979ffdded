"""Writes its own frame to the control socket (fd 3) whose fields have the wrong JSON types
("seconds" a string, "tampered" a list of numbers): a verdict, and kopt goes on."""
import json
import os
import struct
import time

import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        text = json.dumps({"ok": True, "seconds": "fast", "poisoned_bytes": [1], "tampered": [1],
                           "payload": 0}).encode()
        os.write(3, struct.pack("<I", len(text)) + text)
        time.sleep(5)
        return x
