"""Corrections to moto 5.2.5 where it differs from AWS in a way the suite depends on.

Each is applied in the process that runs moto (MotoEndpoint in the test process,
iam_server.py in its own) before it serves a request, and is idempotent.

- KMS ciphertext blobs of multi-Region keys: moto keeps the key id in a fixed
  36-byte field of its blob, the length of a UUID. A multi-Region key's id is
  `mrk-` and 32 hex digits (40 characters with dashes), so it is cut, and moto
  answers AccessDeniedException to every Decrypt of what such a key encrypted,
  in any region. AWS decrypts it in the key's region and with any replica. The
  field is widened to 40 bytes (an id shorter than that is NUL-padded, the
  padding dropped when read back); moto's own checks (the key must exist in the
  region asked, and its material must open the blob) are unchanged.
"""

from __future__ import annotations

from typing import Any

_MULTI_REGION_KEY_ID_LEN = 40


def widen_kms_key_ids() -> None:
    from moto.kms import utils

    if utils.KEY_ID_LEN >= _MULTI_REGION_KEY_ID_LEN:
        return
    utils.KEY_ID_LEN = _MULTI_REGION_KEY_ID_LEN
    utils.HEADER_LEN = utils.KEY_ID_LEN + utils.IV_LEN + utils.TAG_LEN
    utils.CIPHERTEXT_HEADER_FORMAT = f">{utils.KEY_ID_LEN}s{utils.IV_LEN}s{utils.TAG_LEN}s"
    read = utils._deserialize_ciphertext_blob

    def deserialize(ciphertext_blob: bytes) -> Any:
        parsed = read(ciphertext_blob)
        return parsed._replace(key_id=parsed.key_id.rstrip("\0"))

    utils._deserialize_ciphertext_blob = deserialize


def apply() -> None:
    """Every correction above."""
    widen_kms_key_ids()
