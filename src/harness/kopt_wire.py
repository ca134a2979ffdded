"""kopt worker harness: the frame protocol on the socket kopt hands the worker (fd 3): a
u32 little-endian header length, a JSON header, then header["payload"] bytes of raw tensor
data. Part of the harness embedded in the kopt binary (kopt_worker.py is the entry)."""

import json
import socket
import struct

# Captured before any user code runs; the harness uses only these.
_json_dumps = json.dumps
_json_loads = json.loads


class ProtocolError(Exception):
    pass


class InputError(Exception):
    """The workload or candidate file is unusable (kopt exit 2 for a workload)."""


class Channel:
    def __init__(self, fd):
        self.sock = socket.socket(fileno=fd)
        self.sock.setblocking(True)
        self._sendall = self.sock.sendall
        self._recv_into = self.sock.recv_into

    def _read_exact(self, n):
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = self._recv_into(view[got:], n - got)
            if k == 0:
                raise EOFError()
            got += k
        return buf

    def recv(self):
        (n,) = struct.unpack("<I", bytes(self._read_exact(4)))
        header = _json_loads(bytes(self._read_exact(n)).decode("utf-8"))
        size = int(header.get("payload", 0))
        payload = self._read_exact(size) if size else bytearray()
        return header, payload

    def send(self, header, buffers=()):
        total = 0
        for b in buffers:
            total += len(b)
        header = dict(header)
        header["payload"] = total
        text = _json_dumps(header, allow_nan=False).encode("utf-8")
        self._sendall(struct.pack("<I", len(text)) + text)
        for b in buffers:
            if len(b):
                self._sendall(b)
