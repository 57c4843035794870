"""`objectType: sealed` (docs/reference.md §2.3, §2.4): objects made by an independent sealer.

harness/sealer.py implements the KWS1 format from the text of docs/reference.md §2.4 with
`cryptography`'s AES-GCM and boto3's GenerateDataKey, so these tests check the
provider against the format, not against its own `seal`. Sealed objects from
S3 (binary and base64 text) and inline open in both write modes. Altered
objects (a flipped ciphertext or tag byte, a changed header context, IV or key,
a re-serialized header, truncation), malformed ones and fuzzed headers are
refused with a clear error and the provider keeps serving. A namespace-bound
object is refused for a pod of another namespace without any KMS call, counted
at the endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import pytest

from harness import sealer
from harness.aws import MotoEndpoint, Seeder
from harness.checks import assert_mount_fails, assert_still_serves, assert_written_by
from harness.driver import Driver, MountFailed, Pod, build_attributes, volume_context
from harness.spc import parameters

CTX = {"app": "web", "purpose": "e2e"}


def secret(label: str) -> bytes:
    return f"{label}-{uuid.uuid4().hex}".encode()


def test_sealed_s3_object_opens(mode_driver: Driver, write_mode: str, aws: MotoEndpoint, seed: Seeder,
                                kms_key: dict, bucket: str, target, say) -> None:
    value = secret("sealed-db-password")
    blob = sealer.seal(seed.kms, kms_key["KeyId"], value, CTX)
    put = seed.put(bucket, "sealed/db-password.kws", blob)
    name = f"s3://{bucket}/sealed/db-password.kws"
    say(f"[{write_mode}] {len(blob)}-byte KWS1 object sealed outside the provider, ctx {CTX}")
    mark = aws.requests.mark()
    result = mode_driver.mount(
        parameters([{"objectName": name, "objectType": "sealed", "objectAlias": "db/password",
                     "filePermission": "0400"}]),
        target,
    )
    counts = aws.requests.counts(mark)
    say(f"files {sorted(result.files)}, versions {result.versions}, calls {dict(counts)}")
    assert result.files["db/password"].contents == value
    assert result.files["db/password"].mode == 0o400
    assert result.versions == {name: put["VersionId"]}
    assert counts[("kms", "Decrypt")] == 1, "one kms:Decrypt of the data key"
    assert not any(svc == "kms" and op != "Decrypt" for svc, op in counts), counts
    assert_written_by(write_mode, result)
    say("held: opened with one kms:Decrypt; mode 0400; version = VersionId")


def test_sealed_base64_text_in_s3_opens(mode_driver: Driver, write_mode: str, seed: Seeder, kms_key: dict,
                                        bucket: str, target, say) -> None:
    value = secret("sealed-b64")
    blob = sealer.seal(seed.kms, kms_key["KeyId"], value)
    seed.put(bucket, "sealed/token.b64", sealer.b64(blob).encode() + b"\n")
    say(f"[{write_mode}] sealed object stored as base64 text, empty context")
    result = mode_driver.mount(
        parameters([{"objectName": f"s3://{bucket}/sealed/token.b64", "objectType": "sealed"}]), target)
    assert result.files["token.b64"].contents == value
    assert_written_by(write_mode, result)


def test_sealed_inline_opens(mode_driver: Driver, write_mode: str, aws: MotoEndpoint, seed: Seeder,
                             kms_key: dict, target, say) -> None:
    value = secret("sealed-inline")
    blob = sealer.seal(seed.kms, kms_key["Arn"], value, CTX)
    objects = [{"ciphertext": sealer.b64(blob), "objectType": "sealed", "objectAlias": "api/token"}]
    say(f"[{write_mode}] inline sealed object ({len(blob)} bytes) as ciphertext, alias api/token")
    mark = aws.requests.mark()
    result = mode_driver.mount(parameters(objects), target)
    assert result.files["api/token"].contents == value
    assert result.versions == {"inline:api/token": hashlib.sha256(blob).hexdigest()[:16]}
    assert aws.requests.count("s3", mark=mark) == 0
    assert_written_by(write_mode, result)
    say(f"held: versions {result.versions} (16 hex of SHA-256 of the sealed bytes), no S3 call")


def test_sealed_json_with_jmespath(mode_driver: Driver, write_mode: str, seed: Seeder, kms_key: dict,
                                   bucket: str, target, say) -> None:
    doc = {"username": "svc-orders", "password": f"pw-{uuid.uuid4().hex}", "port": 5432}
    body = json.dumps(doc).encode()
    seed.put(bucket, "sealed/creds.kws", sealer.seal(seed.kms, kms_key["KeyId"], body, CTX))
    objects = [{
        "objectName": f"s3://{bucket}/sealed/creds.kws",
        "objectType": "sealed",
        "objectAlias": "creds.json",
        "filePermission": "0600",
        "jmesPath": [
            {"path": "username", "objectAlias": "db/user", "filePermission": "0444"},
            {"path": "password", "objectAlias": "db/password", "filePermission": "0400"},
        ],
    }]
    say(f"[{write_mode}] sealed JSON with jmesPath username (0444) and password (0400)")
    result = mode_driver.mount(parameters(objects), target)
    got = {p: (f.contents, f.mode) for p, f in result.files.items()}
    assert got == {
        "creds.json": (body, 0o600),
        "db/user": (b"svc-orders", 0o444),
        "db/password": (doc["password"].encode(), 0o400),
    }, {p: oct(m) for p, (_, m) in got.items()}
    assert_written_by(write_mode, result)
    say("held: three files with their own modes")


# --- altered objects --------------------------------------------------------------------------


@dataclass
class Alteration:
    id: str
    alter: Callable[[bytes, dict], bytes]
    mentions: list[str]
    codes: tuple[grpc.StatusCode, ...] = (grpc.StatusCode.INVALID_ARGUMENT,)
    kms_calls: bool = True  # False: refused from the structure alone, before any KMS call


def _reheader_spaced(blob: bytes, _keys: dict) -> bytes:
    """The same header fields, serialized with spaces: semantically equal, different bytes."""
    parsed = sealer.parse(blob)
    spaced = json.dumps(parsed.header, separators=(", ", ": ")).encode()
    assert spaced != parsed.header_bytes
    return sealer.with_header_bytes(blob, spaced)


def _header_len(blob: bytes) -> int:
    return struct.unpack(">I", blob[4:8])[0]


ALTERATIONS = [
    Alteration("flip-first-ciphertext-byte", lambda b, k: sealer.flip_ciphertext_byte(b, 0),
               ["cannot open sealed object", "authentication failed"]),
    Alteration("flip-tag-byte", lambda b, k: sealer.flip_ciphertext_byte(b, len(sealer.parse(b).ciphertext) - 1),
               ["authentication failed"]),
    Alteration("ctx-value-changed", lambda b, k: sealer.with_header(b, ctx={**CTX, "app": "evil"}),
               ["KMS refused the ciphertext"]),
    Alteration("ctx-entry-dropped", lambda b, k: sealer.with_header(b, ctx={"app": "web"}),
               ["KMS refused the ciphertext"]),
    Alteration("ctx-emptied", lambda b, k: sealer.with_header(b, ctx={}), ["KMS refused the ciphertext"]),
    Alteration("header-reserialized", _reheader_spaced, ["authentication failed"]),
    Alteration("iv-replaced", lambda b, k: sealer.with_header(b, iv=sealer.b64(os.urandom(12))),
               ["authentication failed"]),
    # Another key's ARN: KMS answers IncorrectKeyException (AWS) or AccessDenied (moto).
    Alteration("key-replaced", lambda b, k: sealer.with_header(b, key=k["other"]["Arn"]),
               ["objects[0]"], codes=(grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED)),
    Alteration("edk-of-other-object", lambda b, k: sealer.with_header(b, edk=k["other_edk"]),
               ["authentication failed"]),
    Alteration("truncated-to-5-bytes", lambda b, k: b[:5], ["malformed sealed object", "too short"],
               kms_calls=False),
    Alteration("truncated-in-header", lambda b, k: b[: 8 + _header_len(b) // 2],
               ["malformed sealed object", "past the end"], kms_calls=False),
    Alteration("truncated-in-tag", lambda b, k: b[: 8 + _header_len(b) + 10],
               ["malformed sealed object", "truncated"], kms_calls=False),
    Alteration("last-byte-cut", lambda b, k: b[:-1], ["authentication failed"]),
]


@pytest.mark.parametrize("alteration", ALTERATIONS, ids=[a.id for a in ALTERATIONS])
def test_altered_sealed_object_refused(alteration: Alteration, driver: Driver, aws: MotoEndpoint, seed: Seeder,
                                       kms_key: dict, bucket: str, target, say) -> None:
    # Long enough that the ciphertext alone is longer than the tag.
    value = secret("tamper-me") * 2
    good = sealer.seal(seed.kms, kms_key["KeyId"], value, CTX)
    other = seed.kms_key("keywarden e2e other key")
    keys = {"other": other, "other_edk": sealer.parse(sealer.seal(seed.kms, kms_key["KeyId"], b"x", CTX)).header["edk"]}
    bad = alteration.alter(good, keys)
    assert bad != good
    seed.put(bucket, "altered.kws", bad)
    say(f"{alteration.id}: {len(good)} -> {len(bad)} bytes")
    mark = aws.requests.mark()
    try:
        result = driver.mount(
            parameters([{"objectName": f"s3://{bucket}/altered.kws", "objectType": "sealed"}]), target)
    except MountFailed as e:
        failure = e
    else:
        raise AssertionError(f"an altered sealed object opened: {sorted(result.files)}")
    say(f"-> {failure.code.name if failure.code else failure.reason}: {failure.details!r}")
    assert failure.code in alteration.codes, f"expected one of {[c.name for c in alteration.codes]}: {failure}"
    low = failure.details.lower()
    assert all(m.lower() in low for m in alteration.mentions), f"{failure.details!r} lacks {alteration.mentions}"
    assert "altered.kws" in failure.details, "the message names the object"
    assert os.listdir(target) == [], "no files after a failed Mount"
    kms_calls = aws.requests.count("kms", mark=mark)
    if not alteration.kms_calls:
        assert kms_calls == 0, f"a structurally broken object must be refused before KMS, saw {kms_calls} calls"
    assert value.decode() not in failure.details
    # The unaltered object still opens: it was the alteration that was refused.
    seed.put(bucket, "altered.kws", good)
    assert driver.mount(
        parameters([{"objectName": f"s3://{bucket}/altered.kws", "objectType": "sealed"}]), target
    ).files["altered.kws"].contents == value
    say("held: refused with a clear error; the original opens on the same provider")


def _framed(header: bytes | dict, body: bytes = b"\0" * 32, length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else sealer.header_json(header)
    return sealer.MAGIC + struct.pack(">I", len(raw) if length is None else length) + raw + body


def _valid_header(arn: str) -> dict:
    return {"alg": sealer.ALG, "key": arn, "edk": sealer.b64(os.urandom(60)), "ctx": {}, "iv": sealer.b64(os.urandom(12))}


MALFORMED: list[tuple[str, Callable[[str], bytes], list[str]]] = [
    # Binary without the magic is not taken for a sealed object at all: "neither a binary
    # sealed blob nor valid base64 text". As base64 text it decodes and the magic is named.
    ("bad-magic", lambda arn: b"KWS2" + _framed(_valid_header(arn))[4:], ["sealed"]),
    ("bad-magic-base64-text", lambda arn: base64.b64encode(b"KWS2" + _framed(_valid_header(arn))[4:]),
     ["malformed sealed object", "magic is not KWS1"]),
    ("header-over-64KiB", lambda arn: _framed(b"{" + b" " * 65536 + b"}"), ["exceeds the limit"]),
    ("header-length-max-u32", lambda arn: _framed(_valid_header(arn), length=0xFFFFFFFF), ["exceeds the limit"]),
    ("header-not-json", lambda arn: _framed(b"{not json"), ["header is not valid json"]),
    ("header-not-utf8", lambda arn: _framed(b'{"alg":"\xff\xfe"}'), ["header"]),
    ("header-json-array", lambda arn: _framed(b"[1,2,3]"), ["header"]),
    ("unknown-alg", lambda arn: _framed({**_valid_header(arn), "alg": "AES-128-CBC"}), ["unsupported alg"]),
    ("iv-8-bytes", lambda arn: _framed({**_valid_header(arn), "iv": sealer.b64(os.urandom(8))}), ["iv", "12"]),
    ("iv-not-base64", lambda arn: _framed({**_valid_header(arn), "iv": "%%%"}), ["iv", "base64"]),
    ("edk-not-base64", lambda arn: _framed({**_valid_header(arn), "edk": "***"}), ["edk", "base64"]),
    ("edk-empty", lambda arn: _framed({**_valid_header(arn), "edk": ""}), ["edk"]),
    ("key-not-an-arn", lambda arn: _framed({**_valid_header(arn), "key": "alias/app"}), ["key", "arn"]),
    ("missing-field", lambda arn: _framed({k: v for k, v in _valid_header(arn).items() if k != "iv"}), ["iv"]),
    ("unknown-field", lambda arn: _framed({**_valid_header(arn), "zip": "1"}), ["zip"]),
    ("ctx-not-strings", lambda arn: _framed({**_valid_header(arn), "ctx": {"a": 1}}), ["header"]),
    ("no-ciphertext", lambda arn: _framed(_valid_header(arn), body=b""), ["truncated"]),
]


@pytest.mark.parametrize(("case", "build", "mentions"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_sealed_object_refused_before_kms(case: str, build, mentions, driver: Driver, aws: MotoEndpoint,
                                                    seed: Seeder, kms_key: dict, bucket: str, target, say) -> None:
    blob = build(kms_key["Arn"])
    seed.put(bucket, "malformed.kws", blob)
    say(f"{case}: {len(blob)} bytes, starting {blob[:24]!r}")
    mark = aws.requests.mark()
    failure = assert_mount_fails(
        driver, parameters([{"objectName": f"s3://{bucket}/malformed.kws", "objectType": "sealed"}]), target,
        grpc.StatusCode.INVALID_ARGUMENT, mentions=["malformed sealed object", "neither a binary sealed"], say=say)
    low = failure.details.lower()
    assert all(m.lower() in low for m in mentions), f"{failure.details!r} does not name {mentions}"
    assert aws.requests.count("kms", mark=mark) == 0, "a malformed object is refused before any KMS call"
    assert_still_serves(driver, seed, bucket, target, say)


def test_fuzzed_sealed_headers(driver: Driver, provider, aws: MotoEndpoint, seed: Seeder, kms_key: dict,
                               bucket: str, target, say) -> None:
    """Random mutations of the framing and header bytes: never opened, never a crash."""
    rng = random.Random(0x4B575331)
    value = secret("fuzz")
    good = sealer.seal(seed.kms, kms_key["KeyId"], value, CTX)
    header_end = 8 + _header_len(good)
    allowed = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED,
               grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION}
    seen: dict[str, int] = {}
    for i in range(60):
        data = bytearray(good)
        kind = rng.choice(["flip", "set", "insert", "delete", "length"])
        pos = rng.randrange(0, header_end)
        if kind == "flip":
            data[pos] ^= 1 << rng.randrange(8)
        elif kind == "set":
            data[pos] = rng.choice(b'{}[]":,\\\x00\xff0aZ ')
        elif kind == "insert":
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        elif kind == "delete":
            del data[pos : pos + rng.randrange(1, 8)]
        else:
            data[4:8] = struct.pack(">I", rng.choice([0, 1, header_end - 9, header_end - 7, 65536, 65537, 2**31]))
        mutated = bytes(data)
        if mutated == good:
            continue
        objects = [{"ciphertext": base64.b64encode(mutated).decode(), "objectType": "sealed", "objectAlias": "f"}]
        try:
            result = driver.mount(parameters(objects), target)
        except MountFailed as e:
            assert e.code in allowed, f"mutation {i} ({kind} at {pos}): unexpected {e}"
            assert value.decode() not in e.details
            seen[e.code.name] = seen.get(e.code.name, 0) + 1
        else:
            raise AssertionError(f"mutation {i} ({kind} at {pos}) opened: {sorted(result.files)}")
        assert os.listdir(target) == []
        assert provider.alive(), f"provider died on mutation {i} ({kind} at {pos})"
    say(f"60 mutations refused: {seen}")
    assert "panicked" not in provider.log_text()
    assert_still_serves(driver, seed, bucket, target, say)


# --- namespace binding ------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["s3", "inline"])
def test_namespace_bound_object_refused_in_other_namespace_without_kms(
    where: str, driver: Driver, aws: MotoEndpoint, seed: Seeder, kms_key: dict, bucket: str, target, say
) -> None:
    value = secret("team-a-only")
    blob = sealer.seal(seed.kms, kms_key["KeyId"], value, {sealer.NAMESPACE_KEY: "team-a", "app": "web"})
    if where == "s3":
        seed.put(bucket, "bound.kws", blob)
        spec = {"objectName": f"s3://{bucket}/bound.kws", "objectType": "sealed", "objectAlias": "bound"}
    else:
        spec = {"ciphertext": sealer.b64(blob), "objectType": "sealed", "objectAlias": "bound"}
    params = parameters([spec])
    say(f"[{where}] sealed with ctx keywarden.io/namespace=team-a; pod in team-b")
    mark = aws.requests.mark()
    failure = assert_mount_fails(driver, params, target, grpc.StatusCode.FAILED_PRECONDITION,
                                 mentions=["bound to namespace"], say=say, pod=Pod(namespace="team-b"))
    counts = aws.requests.counts(mark)
    say(f"requests at the endpoint for the refused Mount: {dict(counts)}")
    assert "team-a" in failure.details and "team-b" in failure.details
    assert aws.requests.count("kms", mark=mark) == 0, f"refused before any KMS call, saw {dict(counts)}"
    mark = aws.requests.mark()
    result = driver.mount(params, target, pod=Pod(namespace="team-a"))
    assert result.files["bound"].contents == value
    assert aws.requests.count("kms", "Decrypt", mark) == 1
    say("held: team-b refused with zero KMS calls; team-a opens it with one Decrypt")


def test_namespace_bound_object_refused_without_pod_namespace(driver: Driver, aws: MotoEndpoint, seed: Seeder,
                                                              kms_key: dict, target, say) -> None:
    blob = sealer.seal(seed.kms, kms_key["KeyId"], secret("bound"), {sealer.NAMESPACE_KEY: "team-a"})
    params = parameters([{"ciphertext": sealer.b64(blob), "objectType": "sealed", "objectAlias": "bound"}])
    context = {k: v for k, v in volume_context(Pod(), "x").items() if k != "csi.storage.k8s.io/pod.namespace"}
    mark = aws.requests.mark()
    say("namespace-bound object, attributes without csi.storage.k8s.io/pod.namespace")
    assert_mount_fails(driver, {}, target, grpc.StatusCode.FAILED_PRECONDITION, mentions=["bound to namespace"],
                       say=say, attributes=build_attributes(params, context))
    assert aws.requests.count("kms", mark=mark) == 0


def test_sealed_under_disabled_key(driver: Driver, aws: MotoEndpoint, seed: Seeder, bucket: str, target, say) -> None:
    key = seed.kms_key("keywarden e2e sealed key to disable")
    value = secret("sealed-disabled")
    seed.put(bucket, "d.kws", sealer.seal(seed.kms, key["KeyId"], value, CTX))
    params = parameters([{"objectName": f"s3://{bucket}/d.kws", "objectType": "sealed"}])
    seed.kms.disable_key(KeyId=key["KeyId"])
    say("DisableKey on the key named in the sealed header")
    assert_mount_fails(driver, params, target, grpc.StatusCode.FAILED_PRECONDITION,
                       mentions=["the KMS key is disabled"], say=say)
    seed.kms.enable_key(KeyId=key["KeyId"])
    assert driver.mount(params, target).files["d.kws"].contents == value
    say("held: FAILED_PRECONDITION 'the KMS key is disabled'; opens again after EnableKey")
