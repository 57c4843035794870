"""`objectType: kms` objects and `jmesPath` fields (docs/reference.md §2.3), against moto's KMS.

KMS ciphertext blobs made with boto3 `kms.encrypt` are mounted from S3 as
binary and as base64 text, and inline as `ciphertext`; `encryptionContext` is
passed to kms:Decrypt. Successful cases run in both write modes (the provider
returns the files, or writes them itself). Each failure — context mismatch,
not a KMS blob, bad base64, disabled key, non-string or missing jmesPath
results, bad expressions — has its own code and message, leaves the target
empty, and the provider then serves a good Mount.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import textwrap
import uuid

import grpc
import pytest

from harness.aws import MotoEndpoint, Seeder
from harness.checks import assert_mount_fails, assert_still_serves, assert_written_by
from harness.driver import Driver
from harness.spc import parameters


def secret(label: str) -> bytes:
    return f"{label}-{uuid.uuid4().hex}".encode()


def encrypt(seed: Seeder, key: dict, plaintext: bytes, context: dict[str, str] | None = None) -> bytes:
    args = {"KeyId": key["KeyId"], "Plaintext": plaintext}
    if context:
        args["EncryptionContext"] = context
    return seed.kms.encrypt(**args)["CiphertextBlob"]


def inline_version(ciphertext: bytes) -> str:
    """docs/reference.md §2.6: the first 16 hex digits of SHA-256 of the (decoded) ciphertext."""
    return hashlib.sha256(ciphertext).hexdigest()[:16]


def test_kms_blob_in_s3_binary(mode_driver: Driver, write_mode: str, aws: MotoEndpoint, seed: Seeder,
                               kms_key: dict, bucket: str, target, say) -> None:
    value = secret("api-token")
    blob = encrypt(seed, kms_key, value)
    put = seed.put(bucket, "blobs/api-token.bin", blob)
    name = f"s3://{bucket}/blobs/api-token.bin"
    say(f"[{write_mode}] S3 object is a {len(blob)}-byte binary KMS ciphertext blob")
    mark = aws.requests.mark()
    result = mode_driver.mount(
        parameters([{"objectName": name, "objectType": "kms", "objectAlias": "api-token", "filePermission": "0440"}]),
        target,
    )
    counts = aws.requests.counts(mark)
    say(f"files {sorted(result.files)}, versions {result.versions}, calls {dict(counts)}")
    assert result.files["api-token"].contents == value
    assert result.files["api-token"].mode == 0o440
    assert result.versions == {name: put["VersionId"]}
    assert counts[("kms", "Decrypt")] == 1, counts
    assert_written_by(write_mode, result)
    say("held: decrypted with one kms:Decrypt, mode 0440, version = VersionId")


def test_kms_blob_in_s3_base64_text(mode_driver: Driver, write_mode: str, seed: Seeder, kms_key: dict,
                                    bucket: str, target, say) -> None:
    value = secret("db-password")
    blob = encrypt(seed, kms_key, value)
    # As `aws kms encrypt --output text | base64`-style tools write it: wrapped, trailing newline.
    text = "\n".join(textwrap.wrap(base64.b64encode(blob).decode(), 76)) + "\n"
    put = seed.put(bucket, "blobs/db-password.b64", text.encode())
    name = f"s3://{bucket}/blobs/db-password.b64"
    say(f"[{write_mode}] S3 object is the blob as base64 text in {text.count(chr(10))} lines")
    result = mode_driver.mount(parameters([{"objectName": name, "objectType": "kms"}]), target)
    assert result.files == {"db-password.b64": result.files["db-password.b64"]}
    assert result.files["db-password.b64"].contents == value
    assert result.files["db-password.b64"].mode == 0o644
    assert result.versions == {name: put["VersionId"]}
    assert_written_by(write_mode, result)
    say("held: base64 text decoded, then decrypted; default alias and mode")


def test_kms_inline_ciphertext(mode_driver: Driver, write_mode: str, aws: MotoEndpoint, seed: Seeder,
                               kms_key: dict, target, say) -> None:
    value = secret("inline")
    blob = encrypt(seed, kms_key, value, {"app": "web"})
    objects = [{
        "ciphertext": base64.b64encode(blob).decode(),
        "objectType": "kms",
        "objectAlias": "inline/token",
        "encryptionContext": {"app": "web"},
        "filePermission": "0400",
    }]
    say(f"[{write_mode}] inline ciphertext with encryptionContext app=web, alias inline/token")
    mark = aws.requests.mark()
    result = mode_driver.mount(parameters(objects), target)
    counts = aws.requests.counts(mark)
    say(f"versions {result.versions}, calls {dict(counts)}")
    assert result.files["inline/token"].contents == value
    assert result.files["inline/token"].mode == 0o400
    assert result.versions == {"inline:inline/token": inline_version(blob)}
    assert result.versions["inline:inline/token"] != hashlib.sha256(value).hexdigest()[:16]
    assert not any(svc == "s3" for svc, _ in counts), f"inline objects need no S3 call: {counts}"
    assert counts[("kms", "Decrypt")] == 1
    assert_written_by(write_mode, result)
    say("held: id inline:<alias>, version = 16 hex of SHA-256(ciphertext), no S3 call")


@pytest.mark.parametrize(
    "mount_context",
    [pytest.param({"app": "api"}, id="other-value"), pytest.param(None, id="no-context"),
     pytest.param({"app": "web", "tier": "db"}, id="extra-entry")],
)
def test_encryption_context_mismatch(driver: Driver, aws: MotoEndpoint, seed: Seeder, kms_key: dict,
                                     bucket: str, target, say, mount_context) -> None:
    blob = encrypt(seed, kms_key, secret("ctx"), {"app": "web"})
    seed.put(bucket, "ctx.bin", blob)
    spec = {"objectName": f"s3://{bucket}/ctx.bin", "objectType": "kms"}
    if mount_context:
        spec["encryptionContext"] = mount_context
    say(f"encrypted with app=web, mounted with encryptionContext {mount_context}")
    mark = aws.requests.mark()
    failure = assert_mount_fails(driver, parameters([spec]), target, grpc.StatusCode.INVALID_ARGUMENT,
                                 mentions=["KMS refused the ciphertext"], say=say)
    assert aws.requests.count("kms", "Decrypt", mark) >= 1, "KMS itself judged the context"
    assert f"s3://{bucket}/ctx.bin" in failure.details, "the message names the object"
    right = driver.mount(parameters([{**spec, "encryptionContext": {"app": "web"}}]), target)
    assert right.files["ctx.bin"].contents.startswith(b"ctx-")
    say("held: INVALID_ARGUMENT 'KMS refused the ciphertext' naming the object; the right context opens it")


def test_not_a_kms_blob(driver: Driver, seed: Seeder, bucket: str, target, say) -> None:
    seed.put(bucket, "junk.bin", os.urandom(200) + b"\x00")
    say("a 201-byte random binary object mounted as objectType kms")
    assert_mount_fails(driver, parameters([{"objectName": f"s3://{bucket}/junk.bin", "objectType": "kms"}]),
                       target, grpc.StatusCode.INVALID_ARGUMENT, mentions=["KMS refused the ciphertext"], say=say)
    assert_still_serves(driver, seed, bucket, target, say)


def test_bad_base64(driver: Driver, aws: MotoEndpoint, seed: Seeder, bucket: str, target, say) -> None:
    """Two distinct errors, both before any KMS call: S3 text and inline ciphertext."""
    seed.put(bucket, "bad.b64", b"QUJD\nRA=\n")  # base64 alphabet, wrong padding
    mark = aws.requests.mark()
    say("S3 object 'QUJD\\nRA=\\n' (base64 alphabet, invalid padding) as objectType kms")
    s3_failure = assert_mount_fails(
        driver, parameters([{"objectName": f"s3://{bucket}/bad.b64", "objectType": "kms"}]), target,
        grpc.StatusCode.INVALID_ARGUMENT, mentions=["nor valid base64"], say=say)
    say("inline ciphertext 'not*base64!'")
    inline_failure = assert_mount_fails(
        driver, parameters([{"ciphertext": "not*base64!", "objectType": "kms", "objectAlias": "x"}]), target,
        grpc.StatusCode.INVALID_ARGUMENT, mentions=["not valid base64"], say=say)
    assert "bad.b64" in s3_failure.details and "inline" in inline_failure.details
    assert aws.requests.count("kms", mark=mark) == 0, "bad base64 is found before any KMS call"
    assert_still_serves(driver, seed, bucket, target, say)


def test_disabled_key(driver: Driver, aws: MotoEndpoint, seed: Seeder, bucket: str, target, say) -> None:
    key = seed.kms_key("keywarden e2e key to disable")
    value = secret("disabled")
    seed.put(bucket, "d.bin", encrypt(seed, key, value))
    params = parameters([{"objectName": f"s3://{bucket}/d.bin", "objectType": "kms"}])
    seed.kms.disable_key(KeyId=key["KeyId"])
    say(f"DisableKey {key['KeyId']}; Decrypt names no KeyId, the key is inside the blob")
    mark = aws.requests.mark()
    assert_mount_fails(driver, params, target, grpc.StatusCode.FAILED_PRECONDITION,
                       mentions=["the KMS key is disabled"], say=say)
    assert aws.requests.count("kms", "Decrypt", mark) >= 1
    seed.kms.enable_key(KeyId=key["KeyId"])
    result = driver.mount(params, target)
    assert result.files["d.bin"].contents == value
    say("held: FAILED_PRECONDITION 'the KMS key is disabled'; after EnableKey the same Mount works")


# --- jmesPath -------------------------------------------------------------------------------

DOC = {
    "username": "app_rw",
    "db": {"password": f"pw-{uuid.uuid4().hex}", "port": 5432},
    "tags": ["a", "b"],
}


def test_jmespath_fields_from_kms_object(mode_driver: Driver, write_mode: str, seed: Seeder, kms_key: dict,
                                         bucket: str, target, say) -> None:
    body = json.dumps(DOC).encode()
    seed.put(bucket, "creds.bin", encrypt(seed, kms_key, body))
    objects = [{
        "objectName": f"s3://{bucket}/creds.bin",
        "objectType": "kms",
        "objectAlias": "db/all.json",
        "filePermission": "0640",
        "jmesPath": [
            {"path": "username", "objectAlias": "db/username", "filePermission": "0444"},
            {"path": "db.password", "objectAlias": "password"},
            {"path": "tags[1]", "objectAlias": "db/tag", "filePermission": "0400"},
        ],
    }]
    say(f"[{write_mode}] KMS-encrypted JSON with three jmesPath fields")
    result = mode_driver.mount(parameters(objects), target)
    got = {p: (f.contents, oct(f.mode)) for p, f in result.files.items()}
    say(f"files: { {p: m for p, (_, m) in got.items()} }")
    assert got == {
        "db/all.json": (body, oct(0o640)),
        "db/username": (b"app_rw", oct(0o444)),
        "password": (DOC["db"]["password"].encode(), oct(0o640)),
        "db/tag": (b"b", oct(0o400)),
    }
    assert len(result.versions) == 1, "one version per object, not per field"
    assert_written_by(write_mode, result)
    say("held: each field its own file with its own mode (default: the object's), whole object too")


@pytest.mark.parametrize(
    ("path", "mentions"),
    [
        ("db.port", ["yields a number, not a string"]),
        ("tags", ["yields a array, not a string", "not a string"]),
        ("db", ["not a string"]),
        ("nope.missing", ["matched nothing"]),
    ],
    ids=["number", "array", "object", "missing"],
)
def test_jmespath_non_string_refused(driver: Driver, seed: Seeder, bucket: str, target, say, path, mentions) -> None:
    seed.put(bucket, "doc.json", json.dumps(DOC).encode())
    objects = [{"objectName": f"s3://{bucket}/doc.json",
                "jmesPath": [{"path": "username", "objectAlias": "u"}, {"path": path, "objectAlias": "v"}]}]
    say(f"jmesPath {path!r} on a JSON object")
    failure = assert_mount_fails(driver, parameters(objects), target, grpc.StatusCode.INVALID_ARGUMENT,
                                 mentions=mentions, say=say)
    assert path in failure.details and "doc.json" in failure.details, "names the path and the object"
    assert DOC["db"]["password"] not in failure.details
    assert_still_serves(driver, seed, bucket, target, say)


def test_jmespath_on_non_json_refused(driver: Driver, seed: Seeder, bucket: str, target, say) -> None:
    seed.put(bucket, "plain.txt", b"just a password\n")
    objects = [{"objectName": f"s3://{bucket}/plain.txt", "jmesPath": [{"path": "a", "objectAlias": "a"}]}]
    assert_mount_fails(driver, parameters(objects), target, grpc.StatusCode.INVALID_ARGUMENT,
                       mentions=["does not parse", "json"], say=say)
    assert_still_serves(driver, seed, bucket, target, say)


@pytest.mark.parametrize(
    ("entry", "mentions"),
    [
        ({"path": "a.[", "objectAlias": "a"}, ["a.["]),
        ({"path": "", "objectAlias": "a"}, ["path"]),
        ({"path": "a", "objectAlias": "../a"}, ["../a"]),
        ({"path": "a", "objectAlias": "doc.json"}, ["doc.json"]),  # collides with the object's alias
        ({"path": "a", "objectAlias": "a", "filePermission": "0800"}, ["0800"]),
        ({"path": "a", "objectAlias": "a", "mode": "0400"}, ["mode"]),
    ],
    ids=["bad-expression", "empty-path", "traversal-alias", "duplicate-alias", "bad-permission", "unknown-key"],
)
def test_jmespath_bad_spec_refused_before_aws(driver: Driver, aws: MotoEndpoint, seed: Seeder, bucket: str,
                                              target, say, entry, mentions) -> None:
    seed.put(bucket, "doc.json", json.dumps(DOC).encode())
    objects = [{"objectName": f"s3://{bucket}/doc.json", "jmesPath": [entry]}]
    say(f"jmesPath entry {entry}")
    mark = aws.requests.mark()
    assert_mount_fails(driver, parameters(objects), target, grpc.StatusCode.INVALID_ARGUMENT,
                       mentions=mentions, say=say)
    calls = [(r.service, r.operation) for r in aws.requests.since(mark)]
    assert calls == [], f"validation must come before any AWS call, saw {calls}"
    assert_still_serves(driver, seed, bucket, target, say)
