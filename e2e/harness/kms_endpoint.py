"""A local AWS endpoint whose KMS refuses unusable keys, as AWS KMS does.

moto 5.2.5 records DisableKey and ScheduleKeyDeletion but still encrypts and
decrypts under such keys (checked by trying it). Real KMS answers
DisabledException for a disabled key and KMSInvalidStateException for one
pending deletion or import. This endpoint puts a small WSGI layer between the
request counter and moto that answers those errors for Encrypt, Decrypt,
ReEncrypt and GenerateDataKey* calls that name such a key (KeyId as id, ARN,
alias or alias ARN), so the plugin's FAILED_PRECONDITION path is exercised
against the state the test set with ordinary KMS API calls.
"""

from __future__ import annotations

import io
import json
from typing import Any

from .aws import ACCESS_KEY, REGION, CountingMiddleware, MotoEndpoint

_CHECKED = {"Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext"}
_STATE_ERRORS = {
    "Disabled": "DisabledException",
    "PendingDeletion": "KMSInvalidStateException",
    "PendingImport": "KMSInvalidStateException",
    "Unavailable": "KMSInvalidStateException",
}
_ACCOUNT = "123456789012"


def _key_state(key_id: str) -> str | None:
    from moto.kms.models import kms_backends

    try:
        backend = kms_backends[_ACCOUNT][REGION]
        return backend.describe_key(key_id).key_state
    except Exception:  # unknown key: let moto answer NotFoundException itself
        return None


class KeyStateMiddleware:
    """Answers KMS errors for keys in a state real KMS refuses."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.refused = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        prefix, _, operation = target.partition(".")
        if prefix == "TrentService" and operation in _CHECKED:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            try:
                key_id = json.loads(body or b"{}").get("KeyId") or json.loads(body or b"{}").get(
                    "DestinationKeyId"
                )
            except ValueError:
                key_id = None
            state = _key_state(key_id) if key_id else None
            if state in _STATE_ERRORS:
                self.refused += 1
                payload = json.dumps(
                    {"__type": _STATE_ERRORS[state], "message": f"{key_id} is {state}."}
                ).encode()
                start_response(
                    "400 Bad Request",
                    [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(payload)))],
                )
                return [payload]
        return self.app(environ, start_response)


class KmsEndpoint(MotoEndpoint):
    """MotoEndpoint (same request log) with KMS key states enforced."""

    def _server_entry(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        self.key_states = KeyStateMiddleware(DomainDispatcherApplication(create_backend_app))
        app = CountingMiddleware(self.key_states, self.requests)
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


__all__ = ["KmsEndpoint", "KeyStateMiddleware", "ACCESS_KEY"]
