"""KMS key states enforced the way AWS KMS enforces them, inside the local endpoint.

moto 5.2.5 records DisableKey but still encrypts and decrypts under the key.
Real KMS refuses with DisabledException (and KMSInvalidStateException for a
key pending deletion or import) — also when Decrypt names no KeyId and the key
is only known from the ciphertext blob, which is how the provider decrypts
`objectType: kms` objects. `enforced()` patches moto's KMS backend, for the
duration of a `with` block, to answer those errors for Encrypt, Decrypt and
GenerateDataKey; the key is taken from KeyId when given, else from the blob.
The server runs in this process (ThreadedMotoServer), so the patch applies to
requests from the provider and from the CLI alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

_STATE_ERRORS = {
    "Disabled": "DisabledException",
    "PendingDeletion": "KMSInvalidStateException",
    "PendingImport": "KMSInvalidStateException",
    "Unavailable": "KMSInvalidStateException",
}


def _refuse_unusable(backend: Any, key_id: str | None) -> None:
    from moto.core.exceptions import JsonRESTError

    if not key_id:
        return
    try:
        key = backend.keys[backend.any_id_to_key_id(key_id)]
    except Exception:  # unknown key: moto answers for itself
        return
    error = _STATE_ERRORS.get(key.key_state)
    if error:
        raise JsonRESTError(error, f"{key.arn} is {key.key_state}.")


def _blob_key_id(blob: bytes) -> str | None:
    from moto.kms.utils import _deserialize_ciphertext_blob

    try:
        return _deserialize_ciphertext_blob(blob).key_id
    except Exception:  # not a moto blob: moto answers InvalidCiphertextException itself
        return None


@contextlib.contextmanager
def enforced() -> Iterator[None]:
    """Within the block, unusable KMS keys are refused as AWS KMS refuses them."""
    from moto.kms.models import KmsBackend

    originals = {name: getattr(KmsBackend, name) for name in ("encrypt", "decrypt", "generate_data_key")}

    def encrypt(self: Any, key_id: str, *args: Any, **kw: Any) -> Any:
        _refuse_unusable(self, key_id)
        return originals["encrypt"](self, key_id, *args, **kw)

    def decrypt(self: Any, ciphertext_blob: bytes, encryption_context: Any, key_id: str | None = None) -> Any:
        _refuse_unusable(self, key_id or _blob_key_id(ciphertext_blob))
        return originals["decrypt"](self, ciphertext_blob, encryption_context, key_id)

    def generate_data_key(self: Any, key_id: str, *args: Any, **kw: Any) -> Any:
        _refuse_unusable(self, key_id)
        return originals["generate_data_key"](self, key_id, *args, **kw)

    KmsBackend.encrypt = encrypt  # type: ignore[method-assign]
    KmsBackend.decrypt = decrypt  # type: ignore[method-assign]
    KmsBackend.generate_data_key = generate_data_key  # type: ignore[method-assign]
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(KmsBackend, name, fn)
