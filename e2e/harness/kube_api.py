"""A fake Kubernetes API server: just enough for the provider to read ServiceAccounts.

Plain HTTP on loopback (the provider accepts a `http://127.0.0.1:PORT` API URL
for tests). `GET /api/v1/namespaces/<ns>/serviceaccounts/<name>` answers the
ServiceAccount registered with `add()` (with or without the
`eks.amazonaws.com/role-arn` annotation) as JSON, or a 404 `Status` like the
real API for any other; every request is recorded (method, path, headers).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
_SA_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/serviceaccounts/([^/?]+)$")


@dataclass(frozen=True)
class KubeRequest:
    method: str
    path: str
    headers: dict[str, str]


class FakeKubeApi:
    def __init__(self) -> None:
        self.service_accounts: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[KubeRequest] = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                api._record(self)
                m = _SA_PATH.match(self.path.split("?", 1)[0])
                sa = api.service_accounts.get((m.group(1), m.group(2))) if m else None
                if sa is None:
                    name = m.group(2) if m else self.path
                    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": f'serviceaccounts "{name}" not found', "reason": "NotFound",
                            "details": {"name": name, "kind": "serviceaccounts"}, "code": 404}
                    self._send(404, body)
                else:
                    self._send(200, sa)

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _record(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests.append(KubeRequest(handler.command, handler.path,
                                             {k.lower(): v for k, v in handler.headers.items()}))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeKubeApi:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, namespace: str, name: str, role_arn: str | None = None) -> None:
        """Register a ServiceAccount, annotated with `role_arn` when given."""
        annotations = {ROLE_ANNOTATION: role_arn} if role_arn else {}
        self.service_accounts[(namespace, name)] = {
            "kind": "ServiceAccount", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": namespace, "uid": f"sa-{namespace}-{name}",
                         "annotations": annotations},
        }

    def gets(self, namespace: str, name: str) -> int:
        """How many GETs of that ServiceAccount were received."""
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}"
        with self._lock:
            return sum(1 for r in self.requests if r.method == "GET" and r.path.split("?", 1)[0] == path)
