"""An HTTP proxy in front of the local AWS endpoint that misbehaves on request.

The fault rows of the test matrix (docs/reference.md §6) need AWS to throttle, fail with 5xx, answer slowly,
drop connections or vanish, and come back, while a provider or KMS plugin is
running. moto does none of that, so processes under test get this proxy's URL
as `AWS_ENDPOINT_URL` (`env()`) instead of moto's, and a test switches the
proxy's behaviour at run time:

- `clear()`: pass every request through, byte for byte (method, path, header
  names, values and order, Host as sent, body), so SigV4 signatures verify.
- `inject(Fault(...))`: answer a share of the requests that match a service
  (and operation, and the region of the request's signature) with a throttling error or a 5xx in that service's wire
  format, hold them for some seconds before forwarding, or close the
  connection without answering (FIN, or RST with `reset`). The share is
  deterministic: with share s the k-th matching request is faulted when
  ceil(k*s) > ceil((k-1)*s), so 0.5 faults the 1st, 3rd, 5th, ...
- `down()`: stop listening (connections are refused) and cut every open
  connection, also one whose request is being held; `up()` listens again on
  the same port.

Every request is recorded with what happened to it (`log`), so tests count
the attempts a client really made, for example the SDK's retries; and the
most requests held or forwarded at once is kept, per service and in all
(`peak("s3")`, `peak()`), so tests see how much work a process really had
going in parallel.
"""

from __future__ import annotations

import http.client
import math
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass
import socketserver
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import urlsplit

from .aws import Log, MotoEndpoint, classify, signed_region

Kind = Literal["throttle", "error", "delay", "drop"]
FORWARDED = "forwarded"
ALL = "*"  # peak() of every service together
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}


@dataclass(frozen=True)
class Fault:
    """What to do to the matching share of requests."""

    kind: Kind
    share: float = 1.0
    service: str | None = None  # "s3", "kms", "sts"; None: every service
    operation: str | None = None  # e.g. "GetObject"; None: every operation
    status: int = 500  # kind "error": 500 or 503
    seconds: float = 0.0  # kind "delay": hold this long, then forward
    reset: bool = False  # kind "drop": RST instead of FIN
    region: str | None = None  # only requests signed for this region; None: every region

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"share must be within 0..1, not {self.share}")

    def matches(self, service: str, operation: str, region: str = "") -> bool:
        return (self.service in (None, service) and self.operation in (None, operation)
                and self.region in (None, region))


def error_response(kind: Kind, status: int, service: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) of a throttling or server error as `service` sends it."""
    if service in ("kms", "secretsmanager", "ssm"):
        internal = {"kms": "KMSInternalException", "secretsmanager": "InternalServiceError"}.get(
            service, "InternalServerError")
        code = "ThrottlingException" if kind == "throttle" else internal
        body = f'{{"__type":"{code}","message":"injected by the fault proxy"}}'.encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
        return (400 if kind == "throttle" else status), headers, body
    if service == "s3":
        code = "SlowDown" if kind == "throttle" else ("InternalError" if status == 500 else "ServiceUnavailable")
        body = (
            f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>"
            f"<Message>injected by the fault proxy</Message><RequestId>FAULTPROXY</RequestId></Error>"
        ).encode()
        return (503 if kind == "throttle" else status), [("Content-Type", "application/xml")], body
    code = "Throttling" if kind == "throttle" else "InternalFailure"
    body = (
        f"<ErrorResponse><Error><Type>{'Sender' if kind == 'throttle' else 'Receiver'}</Type>"
        f"<Code>{code}</Code><Message>injected by the fault proxy</Message></Error>"
        f"<RequestId>FAULTPROXY</RequestId></ErrorResponse>"
    ).encode()
    return (400 if kind == "throttle" else status), [("Content-Type", "text/xml")], body


@dataclass(frozen=True)
class Handled:
    """One request and what the proxy did with it: FORWARDED or the fault kind."""

    service: str
    operation: str
    outcome: str


class FaultProxy:
    """The proxy; `start()` it, point processes at `env()`, steer it with `inject`/`clear`/`down`/`up`."""

    def __init__(self, upstream: MotoEndpoint) -> None:
        self.upstream = upstream
        target = urlsplit(upstream.url)
        self._upstream_addr = (target.hostname or "127.0.0.1", target.port or 80)
        self._lock = threading.Lock()
        self._fault: Fault | None = None
        self._matched = 0
        self.log: Log[Handled] = Log()
        self._server: _Server | None = None
        self._connections: set[socket.socket] = set()
        self._gone = threading.Event()
        self.port = 0
        self._in_flight: Counter[str] = Counter()
        self._peak: Counter[str] = Counter()

    # Control -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The upstream's environment for a process under test, with this proxy as its endpoint."""
        return {**self.upstream.env(), "AWS_ENDPOINT_URL": self.url}

    def inject(self, fault: Fault) -> None:
        """From now on, apply `fault` (replacing any other) and count matching requests from 1."""
        with self._lock:
            self._fault, self._matched = fault, 0

    def clear(self) -> None:
        """Pass everything through."""
        with self._lock:
            self._fault, self._matched = None, 0

    def start(self) -> FaultProxy:
        return self.up()

    def up(self) -> FaultProxy:
        """Listen (again, on the same port once one was chosen)."""
        server = _Server(self, self.port)
        self.port = server.server_address[1]
        self._gone.clear()
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), name="fault-proxy", daemon=True).start()
        return self

    def down(self) -> None:
        """Stop listening and cut every open connection, answered or not."""
        server, self._server = self._server, None
        self._gone.set()
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        self.down()

    # Accounting --------------------------------------------------------------

    def mark(self) -> int:
        """A position in the log to count from."""
        return self.log.mark()

    def count(self, service: str | None = None, operation: str | None = None,
              outcome: str | None = None, mark: int = 0) -> int:
        """Requests since mark that match service, operation and outcome (None: any)."""
        return sum(
            1
            for h in self.log.since(mark)
            if service in (None, h.service) and operation in (None, h.operation) and outcome in (None, h.outcome)
        )

    def peak(self, service: str = ALL) -> int:
        """The most requests of `service` (default: of every service) held or being forwarded at
        once since start or reset_peak()."""
        with self._lock:
            return self._peak[service]

    def reset_peak(self) -> None:
        with self._lock:
            self._peak = Counter(self._in_flight)

    def summary(self, mark: int = 0) -> dict[str, int]:
        """Number of requests by "service operation outcome", for messages."""
        return dict(Counter(f"{h.service} {h.operation} {h.outcome}" for h in self.log.since(mark)))

    # Used by the handler -----------------------------------------------------

    def _decide(self, service: str, operation: str, region: str = "") -> Fault | None:
        with self._lock:
            fault = self._fault
            if fault is None or not fault.matches(service, operation, region):
                return None
            self._matched += 1
            k = self._matched
            return fault if math.ceil(k * fault.share) > math.ceil((k - 1) * fault.share) else None

    def _record(self, service: str, operation: str, outcome: str) -> None:
        self.log.append(Handled(service, operation, outcome))

    def _busy(self, service: str, delta: int) -> None:
        with self._lock:
            self._in_flight[service] += delta
            self._peak[service] = max(self._peak[service], self._in_flight[service])

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)


class _Once:
    """Runs `action` on the first call only."""

    def __init__(self, action: Any) -> None:
        self._action: Any = action

    def __call__(self) -> None:
        action, self._action = self._action, None
        if action is not None:
            action()


class _Server(socketserver.ThreadingTCPServer):
    """The listening socket of one up() .. down() period (SO_REUSEADDR: same port again)."""

    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False
    # socketserver's default backlog is 5: a burst of new connections (a Mount's concurrent
    # fetches) would wait for SYN retries and hide how many requests the provider sends at once.
    request_queue_size = 128

    def __init__(self, proxy: FaultProxy, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.proxy = proxy


class _Handler(BaseHTTPRequestHandler):
    """One client connection (keep-alive): each request is faulted or forwarded to the upstream."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.proxy: FaultProxy = self.server.proxy
        self.proxy._track(self.connection, True)

    def finish(self) -> None:
        self.proxy._track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet, the log records it
        pass

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except OSError:  # the client or down() cut the connection
            self.close_connection = True

    def do_request(self) -> None:
        self.proxy._busy(ALL, 1)
        try:
            self._handle_request()
        finally:
            self.proxy._busy(ALL, -1)

    def _handle_request(self) -> None:
        body = self._read_body()
        path, _, query = self.path.partition("?")
        environ = {"PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": self.command,
                   "CONTENT_TYPE": self.headers.get("Content-Type", "")}
        environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in self.headers.items()})
        service, operation = classify(environ, body)
        fault = self.proxy._decide(service, operation, signed_region(self.headers.get("Authorization", "")))
        if self.proxy._gone.is_set():
            return self._cut(service, operation, "gone")
        if fault is not None and fault.kind in ("throttle", "error"):
            self.proxy._record(service, operation, fault.kind)
            return self._answer(*error_response(fault.kind, fault.status, service))
        if fault is not None and fault.kind == "drop":
            return self._cut(service, operation, "drop", reset=fault.reset)
        self.proxy._busy(service, 1)
        done = _Once(lambda: self.proxy._busy(service, -1))
        try:
            if fault is not None and fault.kind == "delay":
                self.proxy._record(service, operation, "delay")
                if self.proxy._gone.wait(fault.seconds):
                    return self._cut(service, operation, "gone")
            self._forward(body, service, operation, done)
        finally:
            done()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = do_request

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self, body: bytes, service: str, operation: str, done: _Once) -> None:
        """Send the request upstream and its answer back. Once the upstream has answered, the
        request is no longer in flight and is recorded as forwarded, both before the answer
        leaves: a client that has its answer (and sends its next request) finds it counted and
        no longer in flight."""
        upstream = http.client.HTTPConnection(*self.proxy._upstream_addr, timeout=60)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                upstream.putheader(name, value)
            chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
            upstream.endheaders(body if body or chunked else None, encode_chunked=chunked)
            resp = upstream.getresponse()
            payload = resp.read()
            headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP]
            if resp.getheader("Transfer-Encoding"):
                headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
                headers.append(("Content-Length", str(len(payload))))
            done()
            self.proxy._record(service, operation, FORWARDED)
            self._answer(resp.status, headers, payload, reason=resp.reason)
        finally:
            upstream.close()

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes, reason: str | None = None) -> None:
        self.send_response_only(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        if not any(k.lower() == "content-length" for k, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _cut(self, service: str, operation: str, outcome: str, reset: bool = False) -> None:
        """Close the connection without answering (RST with `reset`)."""
        self.proxy._record(service, operation, outcome)
        self.close_connection = True
        if reset:  # closing with a zero linger sends RST; the real close follows in finish()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        else:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
