"""Self-test: the driver client and the sync controller client really send the `:authority`
forms they claim.

Drivers before v1.6.0 send the raw socket path as HTTP/2 `:authority`, which
stock h2 servers reject; v1.6.0+ send `localhost`. The provider tests claim to
cover both, so this checks on the wire what the client sends: a tiny HTTP/2
server (the h2 package, header validation off) listens on a unix socket,
records the request pseudo-headers and answers a well-formed gRPC Version
response.
"""

from __future__ import annotations

import socket
import struct
import tempfile
import threading
from pathlib import Path
from urllib.parse import quote

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import RequestReceived, StreamEnded

from harness import protos
from harness.driver import LOCALHOST, SOCKET_PATH, Driver, MountFailed
from harness.sync_controller import ESCAPED_PATH, SecretSync, SyncController
from harness.sync_controller import LOCALHOST as SYNC_LOCALHOST


class RecordingH2Server:
    """Answers every gRPC call with a fixed VersionResponse, recording request headers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.requests: list[dict[str, str]] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        pb2, _ = protos.v1alpha1()
        h2 = H2Connection(H2Configuration(client_side=False, validate_inbound_headers=False))
        h2.initiate_connection()
        conn.sendall(h2.data_to_send())
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                for event in h2.receive_data(data):
                    if isinstance(event, RequestReceived):
                        headers = {
                            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                            for k, v in event.headers
                        }
                        self.requests.append(headers)
                    elif isinstance(event, StreamEnded):
                        body = pb2.VersionResponse(
                            version="v1alpha1", runtime_name="recorder", runtime_version="0.0.1"
                        ).SerializeToString()
                        sid = event.stream_id
                        h2.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
                        h2.send_data(sid, struct.pack(">?I", False, len(body)) + body)
                        h2.send_headers(sid, [("grpc-status", "0")], end_stream=True)
                try:
                    conn.sendall(h2.data_to_send())
                except OSError:  # the client hung up after its answer
                    return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def recorder():
    with tempfile.TemporaryDirectory(prefix="kw-auth-") as d:
        server = RecordingH2Server(Path(d) / "recorder.sock")
        try:
            yield server
        finally:
            server.close()


@pytest.mark.parametrize("mode", [LOCALHOST, SOCKET_PATH])
def test_client_sends_the_authority_it_claims(recorder: RecordingH2Server, mode: str, say) -> None:
    with Driver(recorder.path, authority=mode) as d:
        resp = d.version()
    assert resp.runtime_name == "recorder"
    assert len(recorder.requests) == 1
    headers = recorder.requests[0]
    expected = "localhost" if mode == LOCALHOST else str(recorder.path)
    say(f"mode {mode}: :authority on the wire = {headers[':authority']!r}, :path = {headers[':path']}")
    assert headers[":authority"] == expected
    assert headers[":path"] == "/v1alpha1.CSIDriverProvider/Version"
    assert headers[":authority"].startswith("/") == (mode == SOCKET_PATH)


@pytest.mark.parametrize("mode", [SYNC_LOCALHOST, ESCAPED_PATH])
def test_sync_controller_client_sends_the_authority_it_claims(recorder: RecordingH2Server, mode: str, say) -> None:
    """harness/sync_controller.py: `localhost` (a `unix://` target, current releases) or the
    percent-encoded socket path (v0.0.1-v0.0.2), on a Mount call."""
    sync = SecretSync(name="s", namespace="ns", service_account="sa", spc_parameters={"objects": "[]"})
    with SyncController(recorder.path, authority=mode, timeout=5) as c:
        try:
            c.mount_raw(c.request(sync, None))
        except MountFailed:
            pass  # the recorder answers every call with a VersionResponse
    assert len(recorder.requests) >= 1
    headers = recorder.requests[0]
    expected = "localhost" if mode == SYNC_LOCALHOST else quote(str(recorder.path), safe="")
    say(f"mode {mode}: :authority on the wire = {headers[':authority']!r}, :path = {headers[':path']}")
    assert headers[":authority"] == expected
    assert headers[":path"] == "/v1alpha1.CSIDriverProvider/Mount"
