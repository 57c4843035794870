"""`objectEncoding` (docs/reference.md, README "Object specs"), against moto.

Each stored value is random bytes (not UTF-8) encoded here with Python's own
`base64` and `bytes.hex`, independently of the provider; the oracle is the
file's content compared with those raw bytes. Encodings apply after decryption
(a `kms` object whose plaintext is base64 text) and after extraction for
jmesPath fields, whose object file stays as stored. Invalid input is
INVALID_ARGUMENT naming the object and the encoding, with no file written; an
unknown encoding is refused before any AWS call, by the provider and by
`keywarden-provider check`; the decoded size is what counts against
`--max-response-bytes`.
"""

from __future__ import annotations

import base64
import json
import os
import textwrap

import grpc
import pytest

from harness import commands, mounts
from harness.aws import MotoEndpoint, Seeder
from harness.checks import assert_mount_fails, assert_still_serves, assert_written_by
from harness.driver import Driver
from harness.spc import manifest, parameters


def raw(n: int = 48) -> bytes:
    """Random bytes that are never valid UTF-8 (a lone continuation byte first)."""
    return b"\x80" + os.urandom(n - 1)


def b64_wrapped(data: bytes) -> bytes:
    """As `base64` writes it: 76 columns, final newline."""
    return ("\n".join(textwrap.wrap(base64.b64encode(data).decode(), 76)) + "\n").encode()


ENCODERS = {
    "base64": lambda d: base64.b64encode(d),
    "base64-wrapped": b64_wrapped,
    "base64url": lambda d: base64.urlsafe_b64encode(d).rstrip(b"="),
    "hex": lambda d: d.hex().encode(),
    "hex-upper": lambda d: d.hex().upper().encode() + b"\n",
}


def aws_calls(aws: MotoEndpoint, mark: int) -> list[tuple[str, str]]:
    return [(r.service, r.operation) for r in aws.requests.since(mark) if r.service in ("s3", "kms", "sts")]


def test_every_encoding_decodes_to_the_original_bytes(mode_driver: Driver, write_mode: str, seed: Seeder,
                                                      bucket: str, target, say) -> None:
    values, objects = {}, []
    for name, encode in ENCODERS.items():
        values[name] = raw(200)
        seed.put(bucket, f"enc/{name}", encode(values[name]))
        objects.append({"objectName": f"s3://{bucket}/enc/{name}", "objectAlias": name,
                        "objectEncoding": name.split("-")[0]})
    stored = os.urandom(33)
    seed.put(bucket, "enc/as-stored", stored)
    objects.append({"objectName": f"s3://{bucket}/enc/as-stored", "objectAlias": "as-stored",
                    "objectEncoding": "utf-8"})
    objects.append({"objectName": f"s3://{bucket}/enc/hex", "objectAlias": "hex-default"})
    say(f"[{write_mode}] {len(objects)} objects: {[o.get('objectEncoding') for o in objects]}")
    result = mode_driver.mount(parameters(objects), target)
    got = {p: f.contents for p, f in result.files.items()}
    want = dict(values, **{"as-stored": stored, "hex-default": values["hex"].hex().encode()})
    assert got == want
    assert_written_by(write_mode, result)
    say("held: each file is the original bytes; utf-8 (explicit or default) is the value as stored")


def test_decoding_follows_kms_decryption(driver: Driver, seed: Seeder, kms_key: dict, bucket: str, target,
                                        say) -> None:
    value = raw(64)
    blob = seed.kms.encrypt(KeyId=kms_key["KeyId"], Plaintext=base64.b64encode(value))["CiphertextBlob"]
    seed.put(bucket, "enc/kms-b64", blob)
    say("a KMS blob whose plaintext is base64 text, objectEncoding base64")
    result = driver.mount(parameters([{"objectName": f"s3://{bucket}/enc/kms-b64", "objectType": "kms",
                                       "objectAlias": "key.der", "objectEncoding": "base64"}]), target)
    assert result.files["key.der"].contents == value
    say("held: decrypted, then decoded")


def test_jmespath_fields_decode_after_extraction(driver: Driver, seed: Seeder, bucket: str, target, say) -> None:
    cert, key, token = raw(120), raw(32), raw(16)
    doc = {"tls": {"crt": base64.b64encode(cert).decode(), "key": key.hex()},
           "token": base64.urlsafe_b64encode(token).decode(), "user": "app"}
    body = json.dumps(doc).encode()
    seed.put(bucket, "enc/doc.json", body)
    objects = [{"objectName": f"s3://{bucket}/enc/doc.json", "objectAlias": "doc.json", "jmesPath": [
        {"path": "tls.crt", "objectAlias": "tls.crt", "objectEncoding": "base64"},
        {"path": "tls.key", "objectAlias": "tls.key", "objectEncoding": "hex", "filePermission": "0400"},
        {"path": "token", "objectAlias": "token", "objectEncoding": "base64url"},
        {"path": "user", "objectAlias": "user"},
    ]}]
    result = driver.mount(parameters(objects), target)
    got = {p: f.contents for p, f in result.files.items()}
    assert got == {"doc.json": body, "tls.crt": cert, "tls.key": key, "token": token, "user": b"app"}
    assert result.files["tls.key"].mode == 0o400
    say("held: fields decoded each by its own encoding; the document itself written as stored")


@pytest.mark.parametrize(("encoding", "stored", "mentions"), [
    ("base64", b"aGVsbG8*d29ybGQ=", "byte 7 is not in the base64 alphabet"),
    ("base64url", base64.b64encode(b"\xfb\xff\xfe" * 4), "is not in the base64url alphabet"),
    ("base64", b"aGVsb", "not a length"),
    ("hex", b"abc", "odd number of hexadecimal digits"),
    ("hex", b"zz", "byte 0 is not a hexadecimal digit"),
], ids=["base64-alphabet", "base64url-alphabet", "base64-length", "hex-odd", "hex-digit"])
def test_invalid_input_fails_the_whole_mount(mode_driver: Driver, write_mode: str, seed: Seeder, bucket: str,
                                             target, encoding: str, stored: bytes, mentions: str, say) -> None:
    seed.put(bucket, "enc/good", b"fine")
    seed.put(bucket, "enc/bad", stored)
    name = f"s3://{bucket}/enc/bad"
    params = parameters([{"objectName": f"s3://{bucket}/enc/good"},
                         {"objectName": name, "objectEncoding": encoding}])
    failure = assert_mount_fails(mode_driver, params, target, grpc.StatusCode.INVALID_ARGUMENT,
                                 mentions=[mentions], say=say)
    assert f"{name}): objectEncoding {encoding}: " in failure.details, failure.details
    assert_still_serves(mode_driver, seed, bucket, target)
    say(f"[{write_mode}] held: INVALID_ARGUMENT naming the object and {encoding}, no file, provider still serves")


def test_invalid_jmespath_field_names_the_entry(driver: Driver, seed: Seeder, bucket: str, target, say) -> None:
    seed.put(bucket, "enc/doc.json", json.dumps({"k": "not hex"}).encode())
    name = f"s3://{bucket}/enc/doc.json"
    params = parameters([{"objectName": name, "jmesPath": [
        {"path": "k", "objectAlias": "k", "objectEncoding": "hex"}]}])
    failure = assert_mount_fails(driver, params, target, grpc.StatusCode.INVALID_ARGUMENT,
                                 mentions=["jmesPath[0]: objectEncoding hex"], say=say)
    assert name in failure.details


def test_unknown_encoding_is_refused_before_any_aws_call(driver: Driver, aws: MotoEndpoint, bucket: str,
                                                         target, tmp_path, say) -> None:
    objects = [{"objectName": f"s3://{bucket}/k", "objectEncoding": "base32"}]
    mark = aws.requests.mark()
    assert_mount_fails(driver, parameters(objects), target, grpc.StatusCode.INVALID_ARGUMENT,
                       mentions=['objectEncoding "base32" is not one of utf-8, base64, base64url, hex'], say=say)
    spc = tmp_path / "spc.yaml"
    spc.write_text(manifest(objects))
    run = commands.check(aws.env(), spc)
    say(f"check: exit {run.returncode}, stderr {run.stderr.strip()!r}")
    assert run.returncode == 1 and "objectEncoding \"base32\"" in run.stderr, run.describe()
    assert aws_calls(aws, mark) == [], "refused by the Mount and by check without an AWS call"


def test_the_decoded_size_counts_against_the_response_limit(start_provider, seed: Seeder, bucket: str, target,
                                                            say) -> None:
    provider = start_provider(["--max-response-bytes", "4096"])
    value = raw(3000)
    seed.put(bucket, "enc/big.hex", value.hex().encode())  # 6000 bytes stored, 3000 decoded
    name = f"s3://{bucket}/enc/big.hex"
    with Driver(provider.socket_path) as d:
        ok = d.mount(parameters([{"objectName": name, "objectAlias": "big", "objectEncoding": "hex"}]), target)
        assert ok.files["big"].contents == value
        say("6000 stored bytes, 3000 decoded: mounted under --max-response-bytes 4096")
        mounts.clear(target)
        assert_mount_fails(d, parameters([{"objectName": name, "objectAlias": "big"}]), target,
                           grpc.StatusCode.RESOURCE_EXHAUSTED, mentions=["4096"], say=say)
        say("held: the same object as stored (utf-8) is over the limit")
