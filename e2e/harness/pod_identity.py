"""A fake EKS Pod Identity agent, an address where none answers, and one that never answers.

The real agent listens on 169.254.170.23 / [fd00:ec2::23] and answers
`GET /v1/credentials` with header `Authorization: <pod token for audience
pods.eks.amazonaws.com>` with the credentials of the role associated with the
pod's (namespace, ServiceAccount). This one does the same on loopback: it
reads the token's claims (harness/tokens.py), refuses a token that is not one
it was told about or whose audience is not `pods.eks.amazonaws.com` (400, as
the agent does for a bad token), and returns real credentials of the
associated tenant role, obtained from the IAM-enforced endpoint with
sts:AssumeRole (so IAM policies apply to whatever the provider does with them).
Every request is recorded.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from .iam_server import jwt_claims
from .net import JsonServer, free_port
from .tokens import POD_IDENTITY_AUDIENCE

PATH = "/v1/credentials"


@dataclass(frozen=True)
class AgentRequest:
    method: str
    path: str
    authorization: str | None


class FakePodIdentityAgent(JsonServer):
    """associations: (namespace, service account) -> tenant; credentials(tenant, session) -> STS Credentials."""

    def __init__(self, credentials: Callable[[str, str], dict[str, Any]], account_id: str = "123456789012") -> None:
        self.credentials = credentials
        self.account_id = account_id
        self.associations: dict[tuple[str, str], str] = {}
        self.known_tokens: set[str] = set()
        self.requests: list[AgentRequest] = []
        self.issued: list[dict[str, Any]] = []  # the credential bodies answered
        self._lock = threading.Lock()
        super().__init__()

    def answer(self, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, Any]]:
        token = request.headers.get("Authorization")
        with self._lock:
            self.requests.append(AgentRequest(request.command, request.path, token))
        return self._answer(request.path, token)

    def _answer(self, path: str, token: str | None) -> tuple[int, dict[str, Any]]:
        if path.split("?", 1)[0] != PATH:
            return 404, {"message": "not found"}
        if not token or token not in self.known_tokens:
            return 400, {"message": "invalid token: not a known service account token"}
        claims = jwt_claims(token)
        if POD_IDENTITY_AUDIENCE not in (claims.get("aud") or []):
            return 400, {"message": f"invalid token audience {claims.get('aud')}"}
        k8s = claims.get("kubernetes.io", {})
        key = (k8s.get("namespace", ""), k8s.get("serviceaccount", {}).get("name", ""))
        tenant = self.associations.get(key)
        if tenant is None:
            return 400, {"message": f"no pod identity association for {key[0]}/{key[1]}"}
        pod = k8s.get("pod", {}).get("name", "pod")
        creds = self.credentials(tenant, f"eks-{key[0]}-{pod}"[:64])
        expiration = creds["Expiration"]
        if isinstance(expiration, dt.datetime):
            expiration = expiration.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "AccessKeyId": creds["AccessKeyId"],
            "SecretAccessKey": creds["SecretAccessKey"],
            "Token": creds["SessionToken"],
            "Expiration": expiration,
            "AccountId": self.account_id,
        }
        with self._lock:
            self.issued.append(body)
        return 200, body

    @property
    def url(self) -> str:
        return f"{self.base_url}{PATH}"

    def associate(self, namespace: str, service_account: str, tenant: str) -> None:
        self.associations[(namespace, service_account)] = tenant

    def accept(self, token: str) -> None:
        self.known_tokens.add(token)


def down_url() -> str:
    """A credentials URL on a loopback port where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{free_port()}{PATH}"


class HangingEndpoint:
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}{PATH}"

    def close(self) -> None:
        self.sock.close()
