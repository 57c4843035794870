"""A local AWS endpoint whose KMS refuses unusable keys, as AWS KMS does.

moto 5.2.5 records DisableKey and ScheduleKeyDeletion but still encrypts and
decrypts under such keys (checked by trying it). Real KMS answers
DisabledException for a disabled key and KMSInvalidStateException for one
pending deletion or import, also when a Decrypt names no KeyId and the key is
known only from the ciphertext blob, which is how the provider decrypts
`objectType: kms` objects and sealed data keys.

`KeyStateMiddleware` sits between the request counter and moto and answers
those errors for Encrypt, Decrypt, ReEncrypt and GenerateDataKey* calls whose
key is in such a state: the key the request names (KeyId, SourceKeyId or
DestinationKeyId, as id, ARN, alias or alias ARN), else the key inside its
CiphertextBlob. `KeyStateEndpoint` is MotoEndpoint with the middleware in
place; the provider tests and the KMS plugin tests both run against it, so
their failure paths are exercised against the state a test set with ordinary
KMS API calls.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from .aws import REGION, MotoEndpoint, signed_region

_CHECKED = {"Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext"}
_STATE_ERRORS = {
    "Disabled": "DisabledException",
    "PendingDeletion": "KMSInvalidStateException",
    "PendingImport": "KMSInvalidStateException",
    "Unavailable": "KMSInvalidStateException",
}


def _blob_key_id(blob: str) -> str | None:
    """The key id inside a base64 moto ciphertext blob."""
    from moto.kms.utils import _deserialize_ciphertext_blob

    try:
        return _deserialize_ciphertext_blob(base64.b64decode(blob)).key_id
    except Exception:  # not a moto blob: moto answers InvalidCiphertextException itself
        return None


def used_keys(request: dict[str, Any]) -> list[str]:
    """The keys a KMS request uses: the one it names, else the one inside its blob; and a destination."""
    source = request.get("KeyId") or request.get("SourceKeyId")
    if not source and isinstance(request.get("CiphertextBlob"), str):
        source = _blob_key_id(request["CiphertextBlob"])
    return [k for k in (source, request.get("DestinationKeyId")) if isinstance(k, str) and k]


def refusal(key_id: str, region: str = REGION) -> tuple[str, str] | None:
    """(error type, message) real KMS answers for a key in its current state in `region` (each
    replica of a multi-Region key has a state of its own), None if usable."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.kms.models import kms_backends

    try:
        key = kms_backends[DEFAULT_ACCOUNT_ID][region].describe_key(key_id)
    except Exception:  # unknown key: let moto answer NotFoundException itself
        return None
    error = _STATE_ERRORS.get(key.key_state)
    return (error, f"{key.arn} is {key.key_state}.") if error else None


class KeyStateMiddleware:
    """WSGI middleware answering KMS errors for keys in a state real KMS refuses."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        prefix, _, operation = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")
        if prefix == "TrentService" and operation in _CHECKED:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                request = {}
            region = signed_region(environ.get("HTTP_AUTHORIZATION", "")) or REGION
            for key_id in used_keys(request if isinstance(request, dict) else {}):
                refused = refusal(key_id, region)
                if refused:
                    error, message = refused
                    payload = json.dumps({"__type": error, "message": message}).encode()
                    start_response(
                        "400 Bad Request",
                        [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(payload)))],
                    )
                    return [payload]
        return self.app(environ, start_response)


class KeyStateEndpoint(MotoEndpoint):
    """MotoEndpoint (same request log) with KMS key states enforced."""

    def moto_app(self) -> Any:
        return KeyStateMiddleware(super().moto_app())
