"""A fake Kubernetes API server: just enough for the provider to read ServiceAccounts.

Plain HTTP on loopback (the provider accepts a `http://127.0.0.1:PORT` API URL
for tests). `GET /api/v1/namespaces/<ns>/serviceaccounts/<name>` answers the
ServiceAccount registered with `add()` (with or without the
`eks.amazonaws.com/role-arn` annotation) as JSON, or a 404 `Status` like the
real API for any other; every request is recorded (method, path, headers).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from .net import JsonServer

ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
_SA_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/serviceaccounts/([^/?]+)$")


@dataclass(frozen=True)
class KubeRequest:
    method: str
    path: str
    headers: dict[str, str]


class FakeKubeApi(JsonServer):
    def __init__(self) -> None:
        self.service_accounts: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[KubeRequest] = []
        self._lock = threading.Lock()
        super().__init__()

    def answer(self, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(KubeRequest(request.command, request.path,
                                             {k.lower(): v for k, v in request.headers.items()}))
        m = _SA_PATH.match(request.path.split("?", 1)[0])
        sa = self.service_accounts.get((m.group(1), m.group(2))) if m else None
        if sa is not None:
            return 200, sa
        name = m.group(2) if m else request.path
        return 404, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "message": f'serviceaccounts "{name}" not found', "reason": "NotFound",
                     "details": {"name": name, "kind": "serviceaccounts"}, "code": 404}

    @property
    def url(self) -> str:
        return self.base_url

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
