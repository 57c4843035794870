"""A unix-socket relay in front of a gRPC server that counts the calls on the wire.

The driver-like client retries UNAVAILABLE inside gRPC (harness/driver.py), so
the test code never sees how many Mount calls it really made, and the
provider's own counters are what is under test. The tap sits between the two:
the client dials `tap.path`, every connection is relayed byte for byte to the
server's socket, and the HTTP/2 frames are read on the way. Each request
HEADERS frame on a new stream is one call (its `:path` is decoded with HPACK);
the call ends when the server's HEADERS frame with END_STREAM (the trailers)
or a RST_STREAM passes, or the connection closes. So `calls("Mount")` is the
number of Mount calls that reached the server, and `peak("Mount")` the most
that were open at once, both seen from outside the process.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from hpack import Decoder

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADERS, RST_STREAM, CONTINUATION = 0x1, 0x3, 0x9
END_STREAM, END_HEADERS, PADDED, PRIORITY = 0x1, 0x4, 0x8, 0x20


def frames(buffer: bytearray) -> list[tuple[int, int, int, bytes]]:
    """Take every whole frame off the front of `buffer`: (type, flags, stream id, payload)."""
    out = []
    while len(buffer) >= 9:
        length = int.from_bytes(buffer[0:3], "big")
        if len(buffer) < 9 + length:
            break
        kind, flags = buffer[3], buffer[4]
        stream = int.from_bytes(buffer[5:9], "big") & 0x7FFFFFFF
        out.append((kind, flags, stream, bytes(buffer[9:9 + length])))
        del buffer[:9 + length]
    return out


def header_block(flags: int, payload: bytes) -> bytes:
    """The header block fragment of a HEADERS frame, without padding and priority."""
    if flags & PADDED:
        pad = payload[0]
        payload = payload[1:len(payload) - pad]
    if flags & PRIORITY:
        payload = payload[5:]
    return payload


class GrpcTap:
    """Relays `path` -> `upstream` and counts the gRPC calls by method name (last :path segment)."""

    def __init__(self, upstream: Path, path: Path) -> None:
        self.upstream = upstream
        self.path = path
        self._lock = threading.Lock()
        self._started: Counter[str] = Counter()
        self._open: Counter[str] = Counter()
        self._peak: Counter[str] = Counter()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()

    # Accounting --------------------------------------------------------------

    def calls(self, method: str) -> int:
        """Calls of `method` that reached the server since start (or the last `reset`)."""
        with self._lock:
            return self._started[method]

    def in_flight(self, method: str) -> int:
        with self._lock:
            return self._open[method]

    def peak(self, method: str) -> int:
        """The most calls of `method` open at once since start (or the last `reset`)."""
        with self._lock:
            return self._peak[method]

    def reset(self) -> None:
        """Count from now on (calls open now stay open)."""
        with self._lock:
            self._started.clear()
            self._peak = Counter(self._open)

    def _opened(self, method: str) -> None:
        with self._lock:
            self._started[method] += 1
            self._open[method] += 1
            self._peak[method] = max(self._peak[method], self._open[method])

    def _closed(self, method: str) -> None:
        with self._lock:
            self._open[method] -= 1

    # Relay -------------------------------------------------------------------

    def start(self) -> GrpcTap:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, name="grpc-tap", daemon=True).start()
        return self

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> GrpcTap:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while (listener := self._listener) is not None:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                server.connect(str(self.upstream))
            except OSError:  # the server is gone: the client sees the connection closed
                client.close()
                server.close()
                continue
            with self._lock:
                self._sockets.update((client, server))
            _Connection(self, client, server).start()


class _Connection:
    """One relayed connection: its open streams and the client's HPACK context."""

    def __init__(self, tap: GrpcTap, client: socket.socket, server: socket.socket) -> None:
        self.tap = tap
        self.client = client
        self.server = server
        self.lock = threading.Lock()
        self.streams: dict[int, str] = {}
        self.decoder = Decoder()
        self.pending: tuple[int, bytearray] | None = None  # a header block awaiting CONTINUATION
        self.done = 0

    def start(self) -> None:
        threading.Thread(target=self._pump, args=(self.client, self.server, self._from_client), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.server, self.client, self._from_server), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, watch: Callable[[int, int, int, bytes], None]) -> None:
        buffer = bytearray()
        skip = len(PREFACE) if src is self.client else 0
        try:
            while data := src.recv(65536):
                # Read before relaying, so a call is open before its answer can pass the other way.
                buffer += data
                if skip:
                    taken = min(skip, len(buffer))
                    del buffer[:taken]
                    skip -= taken
                for frame in frames(buffer):
                    watch(*frame)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (dst, src):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._finish()

    def _from_client(self, kind: int, flags: int, stream: int, payload: bytes) -> None:
        if kind == HEADERS:
            self.pending = (stream, bytearray(header_block(flags, payload)))
        elif kind == CONTINUATION and self.pending is not None:
            self.pending[1].extend(payload)
        elif kind == RST_STREAM:
            self._end(stream)
            return
        else:
            return
        if flags & END_HEADERS and self.pending is not None:
            stream, block = self.pending
            self.pending = None
            headers = {_text(k): _text(v) for k, v in self.decoder.decode(bytes(block))}
            with self.lock:
                is_new = stream not in self.streams and ":path" in headers
                if is_new:
                    self.streams[stream] = headers[":path"].rsplit("/", 1)[-1]
            if is_new:
                self.tap._opened(self.streams[stream])

    def _from_server(self, kind: int, flags: int, stream: int, payload: bytes) -> None:
        if (kind == HEADERS and flags & END_STREAM) or kind == RST_STREAM:
            self._end(stream)

    def _end(self, stream: int) -> None:
        with self.lock:
            method = self.streams.pop(stream, None)
        if method is not None:
            self.tap._closed(method)

    def _finish(self) -> None:
        """When both directions are done, every stream still open has ended with the connection."""
        with self.lock:
            self.done += 1
            if self.done < 2:
                return
            left, self.streams = list(self.streams.values()), {}
        for method in left:
            self.tap._closed(method)
        with self.tap._lock:
            self.tap._sockets.difference_update((self.client, self.server))
        for s in (self.client, self.server):
            s.close()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
