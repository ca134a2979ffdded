"""kopt worker harness: the frame protocol on the socket kopt hands the worker (fd 3): a
u32 little-endian header length, a JSON header, then header["payload"] bytes of raw tensor
data. Part of the harness embedded in the kopt binary (kopt_worker.py is the entry)."""

import json
import socket
import struct

# Largest chunk of a streamed tensor (kopt's sandbox/worker.hpp, kChunkBytes): kopt
# refuses a candidate's frame with a larger payload, except where it asks for a whole value.
CHUNK_BYTES = 64 << 20

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

    def send_stream(self, header, chunks):
        """The header (its value trees without bytes, "stream": true), then each piece of
        the iterable `chunks` (buffers of at most CHUNK_BYTES, in the order of the tensors in
        the trees) as a chunk frame: no frame grows with the output."""
        header = dict(header)
        header["stream"] = True
        self.send(header)
        for piece in chunks:
            n = len(piece)
            if not n:
                continue
            text = _json_dumps({"chunk": True, "payload": n}).encode("utf-8")
            self._sendall(struct.pack("<I", len(text)) + text)
            self._sendall(piece)

    def recv_chunks_into(self, view):
        """Fills the writable byte buffer `view` from the chunk frames that carry it."""
        got = 0
        while got < len(view):
            (n,) = struct.unpack("<I", bytes(self._read_exact(4)))
            header = _json_loads(bytes(self._read_exact(n)).decode("utf-8"))
            size = int(header.get("payload", 0))
            if not header.get("chunk") or size <= 0 or size > len(view) - got:
                raise ProtocolError("malformed chunk frame")
            part = view[got:got + size]
            done = 0
            while done < size:
                k = self._recv_into(part[done:], size - done)
                if k == 0:
                    raise EOFError()
                done += k
            got += size
