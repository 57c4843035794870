"""A moto server that enforces IAM, run in its own process (`python iam_server.py PORT LOG`).

moto keeps its "check IAM from now on" switch and every backend in process-wide
globals, so an IAM-enforcing endpoint cannot share a process with the suite's
ordinary one: this script is started as a child by harness/iam.py.

- `INITIAL_NO_AUTH_ACTION_COUNT` is set (from the parent's environment) before
  moto is imported: the parent seeds the world within those unauthenticated
  calls, then switches enforcement on at once with `/moto-api/reset-auth`.
- Real clients send STS `AssumeRoleWithWebIdentity` unsigned (the token is the
  credential). moto 5.2.5 then fails with `KeyError: 'HTTP_AUTHORIZATION'`
  (SPEC §5). Exactly that action, unsigned, is let past moto's signature and
  policy check. moto verifies neither the web identity token nor the role's
  trust policy, so this layer does the part the suite relies on: the role must
  exist, and when its trust policy pins `<issuer>:sub` / `<issuer>:aud` with
  `StringEquals`, the token's claims must match (else `AccessDenied`, 403, as
  AWS answers).
- A GetObject of a key with a path element `slow` is answered two seconds late
  (`SLOW_SECONDS`), so a test can have many Mounts in flight during one fetch.
- Every request is appended as one JSON line to LOG before its response is sent:
  service, operation, method, path, status, the conditional headers, the access
  key that signed it, and for STS the role, session name and a token digest.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import sys
import threading
import time
from typing import Any
from urllib.parse import parse_qs

_UNSIGNED_ALLOWED = "AssumeRoleWithWebIdentity"
SLOW_SECONDS = 2.0
_KEPT_HEADERS = ("if-none-match", "if-match", "if-modified-since", "x-amz-security-token")


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT-looking string (no signature check), {} if unreadable."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
        return claims if isinstance(claims, dict) else {}
    except (IndexError, ValueError):
        return {}


def _access_denied(start_response: Any, message: str) -> list[bytes]:
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        f"<Code>AccessDenied</Code><Message>{message}</Message></Error>"
        "<RequestId>keywarden-e2e</RequestId></ErrorResponse>"
    ).encode()
    start_response("403 Forbidden", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _trust_refusal(form: dict[str, list[str]]) -> str | None:
    """Why AWS would refuse this AssumeRoleWithWebIdentity, or None."""
    from moto.iam.models import iam_backends

    role_arn = (form.get("RoleArn") or [""])[0]
    token = (form.get("WebIdentityToken") or [""])[0]
    backend = iam_backends["123456789012"]["aws"]
    try:
        role = backend.get_role_by_arn(role_arn)
    except Exception:
        return f"Not authorized to perform sts:AssumeRoleWithWebIdentity (no role {role_arn})"
    claims = jwt_claims(token)
    policy = json.loads(role.assume_role_policy_document)
    for stmt in policy.get("Statement", []):
        if stmt.get("Effect") != "Allow" or "sts:AssumeRoleWithWebIdentity" not in str(stmt.get("Action")):
            continue
        ok = True
        for key, want in stmt.get("Condition", {}).get("StringEquals", {}).items():
            claim = key.rsplit(":", 1)[-1]
            got = claims.get(claim)
            got_values = got if isinstance(got, list) else [got]
            wanted = want if isinstance(want, list) else [want]
            if not any(w in got_values for w in wanted):
                ok = False
        if ok:
            return None
    return "Not authorized to perform sts:AssumeRoleWithWebIdentity"


class Recorder:
    """WSGI layer: record each request as a JSON line; handle the unsigned STS action."""

    def __init__(self, app: Any, log_path: str) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.log = open(log_path, "a", encoding="utf-8")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        from harness.aws import classify

        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > 0:
            body = environ["wsgi.input"].read(length)
        elif environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            body = environ["wsgi.input"].read()
            environ["CONTENT_LENGTH"] = str(len(body))
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        service, operation = classify(environ, body)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        auth = headers.get("authorization", "")
        access_key = auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else ""
        entry: dict[str, Any] = {
            "service": service,
            "operation": operation,
            "method": environ.get("REQUEST_METHOD", ""),
            "path": environ.get("PATH_INFO", ""),
            "status": 0,
            "headers": {k: v for k, v in headers.items() if k in _KEPT_HEADERS},
            "access_key": access_key,
            "params": {},
        }
        form: dict[str, list[str]] = {}
        if service == "sts":
            form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            form.update(parse_qs(environ.get("QUERY_STRING", "")))
            for name in ("RoleArn", "RoleSessionName", "DurationSeconds"):
                if name in form:
                    entry["params"][name] = form[name][0]
            if "WebIdentityToken" in form:
                entry["params"]["token_sha256"] = hashlib.sha256(form["WebIdentityToken"][0].encode()).hexdigest()
        status_box = [0]

        def recording_start_response(status: str, response_headers: Any, exc_info: Any = None) -> Any:
            status_box[0] = int(status.split()[0])
            return start_response(status, response_headers, exc_info)

        try:
            if operation == _UNSIGNED_ALLOWED and not auth:
                refusal = _trust_refusal(form)
                if refusal:
                    return _access_denied(recording_start_response, refusal)
                _UNSIGNED.active = True
            if operation == "GetObject" and "/slow/" in entry["path"]:
                time.sleep(SLOW_SECONDS)
            return self.app(environ, recording_start_response)
        finally:
            _UNSIGNED.active = False
            entry["status"] = status_box[0]
            with self.lock:
                self.log.write(json.dumps(entry) + "\n")
                self.log.flush()


_UNSIGNED = threading.local()


def _let_unsigned_web_identity_through() -> None:
    from moto.core.authorization import ActionAuthenticatorMixin

    original = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def patched(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if getattr(_UNSIGNED, "active", False) and "Authorization" not in self.headers:
            return
        original(self, iam_request_cls, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = patched  # type: ignore[method-assign]


def main(port: int, log_path: str) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    _let_unsigned_web_identity_through()
    app = Recorder(DomainDispatcherApplication(create_backend_app), log_path)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    main(int(sys.argv[1]), sys.argv[2])
