"""The troubleshooting page as an oracle (harness/troubleshooting.py) must be able to say no.

`assert_mount_fails` checks every failure of the suite against the page; these cases show that
the check refuses what it must: a message the page does not list, a listed message with another
code, and a placeholder-only row filled with text that is not a documented part.
"""

from __future__ import annotations

import pytest

from harness.troubleshooting import documented, rows


def test_the_page_has_both_catalogues() -> None:
    codes = {r.code for r in rows()}
    assert {"INVALID_ARGUMENT", "PERMISSION_DENIED", "FAILED_PRECONDITION", "UNAVAILABLE", "part"} <= codes
    texts = " ".join(r.text for r in rows())
    assert "parameter objects is missing" in texts and "ciphertext rejected by AWS KMS" in texts


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("INVALID_ARGUMENT", "parameter objects is missing; list the objects to mount"),
        ("INVALID_ARGUMENT", 'objects[0] (s3://b/k): objectAlias: path "../x" contains a \'..\' element'),
        ("INVALID_ARGUMENT", 'parameter "roleARN" is not a Keywarden parameter (objects, region, identity, roleArn); '
                             'did you mean "roleArn"?'),
        ("NOT_FOUND", "objects[2] (s3://bucket/a/b): object not found"),
        ("UNAVAILABLE", "objects[0] (s3://b/k): AWS temporarily unavailable (SlowDown)"),
        ("RESOURCE_EXHAUSTED", "provider busy: 65 mounts in flight; retry later"),
        ("INVALID_ARGUMENT", "attributes is 200000 bytes, over the limit of 131072 (MAX_ATTRIBUTES_BYTES)"),
        ("PERMISSION_DENIED", 'key "arn:aws:kms:eu-west-1:1:key/x" is not the current key, a --decrypt-keys key, '
                              "or a key the alias names now or named before"),
    ],
)
def test_real_messages_are_found(code: str, message: str) -> None:
    assert documented(code, message) is not None


@pytest.mark.parametrize(
    ("code", "message", "why"),
    [
        ("INVALID_ARGUMENT", "something went wrong", "not on the page"),
        ("INTERNAL", "parameter objects is missing; list the objects to mount", "listed with another code"),
        ("INVALID_ARGUMENT", "attributes is big", "a placeholder-only row filled with an undocumented part"),
        ("INVALID_ARGUMENT", "objects[0] (s3://b/k): the moon is made of cheese", "ditto, after a label"),
        ("FAILED_PRECONDITION", "h2 protocol error: error reading a body from connection", "a library's message"),
    ],
)
def test_undocumented_messages_are_refused(code: str, message: str, why: str) -> None:
    assert documented(code, message) is None, why
