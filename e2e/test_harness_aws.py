"""Self-test of the local AWS endpoint and its request counter.

Cost assertions elsewhere ("a re-Mount makes one conditional S3 request and no
KMS call") are only as good as the counter, so it is checked here against
known boto3 traffic: service and operation names, response status, and the
conditional flag of a 304 answer.
"""

from __future__ import annotations

import base64

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from harness.aws import MotoEndpoint, Seeder


def test_counts_by_service_and_operation(aws: MotoEndpoint, seed: Seeder, bucket: str, kms_key: dict, say) -> None:
    mark = aws.requests.mark()
    seed.put(bucket, "a/b", b"hello")
    seed.s3.get_object(Bucket=bucket, Key="a/b")
    seed.s3.get_object(Bucket=bucket, Key="a/b")
    seed.s3.head_object(Bucket=bucket, Key="a/b")
    blob = seed.kms.encrypt(KeyId=kms_key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    seed.kms.decrypt(CiphertextBlob=blob)
    seed.sts.get_caller_identity()
    counts = aws.requests.counts(mark)
    say(f"counted {dict(counts)}")
    assert counts == {
        ("s3", "PutObject"): 1,
        ("s3", "GetObject"): 2,
        ("s3", "HeadObject"): 1,
        ("kms", "Encrypt"): 1,
        ("kms", "Decrypt"): 1,
        ("sts", "GetCallerIdentity"): 1,
    }
    assert aws.requests.count("s3", mark=mark) == 4
    assert aws.requests.count("kms", "Decrypt", mark=mark) == 1
    assert aws.requests.count("kms", "GenerateDataKey", mark=mark) == 0


def test_records_status_and_conditional_requests(aws: MotoEndpoint, seed: Seeder, bucket: str, say) -> None:
    etag = seed.put(bucket, "k", b"v")["ETag"]
    mark = aws.requests.mark()
    with pytest.raises(ClientError) as e:
        seed.s3.get_object(Bucket=bucket, Key="k", IfNoneMatch=etag)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError):
        seed.s3.get_object(Bucket=bucket, Key="missing")
    reqs = aws.requests.since(mark)
    say(f"requests: {[(r.operation, r.status, r.conditional) for r in reqs]}")
    assert [(r.service, r.operation, r.status, r.conditional) for r in reqs] == [
        ("s3", "GetObject", 304, True),
        ("s3", "GetObject", 404, False),
    ]


def test_unsigned_sts_call_is_attributed(aws: MotoEndpoint) -> None:
    """AssumeRoleWithWebIdentity is sent unsigned; it must still count as sts."""
    unsigned = boto3.client(
        "sts", endpoint_url=aws.url, region_name="us-east-1", config=Config(signature_version=UNSIGNED)
    )
    mark = aws.requests.mark()
    try:
        unsigned.assume_role_with_web_identity(
            RoleArn="arn:aws:iam::123456789012:role/r", RoleSessionName="e2e-session", WebIdentityToken="t" * 40
        )
    except ClientError:
        pass  # moto may refuse; the request still reached the endpoint
    reqs = aws.requests.since(mark)
    assert [(r.service, r.operation) for r in reqs] == [("sts", "AssumeRoleWithWebIdentity")]
    assert "authorization" not in reqs[0].headers


def test_environment_points_at_loopback(aws: MotoEndpoint) -> None:
    env = aws.env()
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"


def test_records_the_signing_access_key_and_the_kms_fields_never_the_plaintext(
    aws: MotoEndpoint, kms_key: dict, say
) -> None:
    """Per-process counts (harness/kms_plugin.py) rest on the access key id; the key and
    context a client named, on the recorded fields; the every-operation count on the names."""
    other = boto3.client(
        "kms", endpoint_url=aws.url, region_name="us-east-1",
        aws_access_key_id="KWSELFTEST0000000001", aws_secret_access_key="x",
    )  # fmt: skip
    mark = aws.requests.mark()
    secret = b"plaintext-that-must-not-be-logged"
    blob = other.encrypt(KeyId=kms_key["Arn"], Plaintext=secret, EncryptionContext={"a": "b"})["CiphertextBlob"]
    other.generate_data_key(KeyId=kms_key["Arn"], KeySpec="AES_256")
    other.describe_key(KeyId=kms_key["Arn"])
    other.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "b"}, DestinationKeyId=kms_key["Arn"])
    mine = aws.requests.by("KWSELFTEST0000000001", mark)
    say(f"recorded: {[(r.operation, r.access_key, r.fields) for r in mine]}")
    assert [r.operation for r in mine] == ["Encrypt", "GenerateDataKey", "DescribeKey", "ReEncrypt"]
    assert len(aws.requests.since(mark)) == 4, "nothing else reached the endpoint"
    assert mine[0].fields == {"KeyId": kms_key["Arn"], "EncryptionContext": {"a": "b"}}
    assert mine[1].fields == {"KeyId": kms_key["Arn"], "KeySpec": "AES_256"}
    assert mine[3].fields["SourceEncryptionContext"] == {"a": "b"}
    encoded = base64.b64encode(secret).decode()
    assert all(encoded not in repr(r) and secret.decode() not in repr(r) for r in mine), "Plaintext recorded"
