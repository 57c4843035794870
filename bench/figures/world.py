"""The local AWS world the figures run against, and the Mount workloads sent to the provider.

One moto endpoint (e2e/harness/aws.py) with its request log, one versioned
bucket and one KMS key. Objects are `objectType: kms` secrets stored in S3:
each costs a Mount one GetObject and one kms:Decrypt, the calls docs/reference.md §7 names.
They alternate between a binary CiphertextBlob and its base64 text and cycle
through plaintext sizes of 64 B to 2 KiB, all with an encryption context.

A workload (bench/src/workload.rs) is what the bench binary sends: Mount
requests whose attributes are built exactly as the driver builds them
(harness/driver.py), and the objects the bare program fetches.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.aws import MotoEndpoint, Seeder
from harness.driver import Pod, build_attributes, volume_context
from harness.spc import parameters
from harness.tokens import pod_tokens

SIZES = (64, 256, 1024, 2048)
CONTEXT = {"app": "bench"}
NAMESPACE = "bench"
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com"},
            "Action": "sts:AssumeRoleWithWebIdentity",
        }
    ],
}


@dataclass(frozen=True)
class SecretObject:
    """One seeded object: its SPC spec and what the bare program needs."""

    spec: dict[str, Any]
    bare: dict[str, Any]


class World:
    """The endpoint, a bucket and a key; objects and workloads on demand."""

    def __init__(self) -> None:
        self.aws = MotoEndpoint()
        self.aws.start()
        self.seed = Seeder(self.aws)
        self.key = self.seed.kms_key("keywarden bench")
        self.bucket = self.seed.bucket(f"kw-bench-{uuid.uuid4().hex[:8]}")
        self.role_arn = self.seed.iam.create_role(
            RoleName="bench-app",
            AssumeRolePolicyDocument=json.dumps(TRUST_POLICY),
        )["Role"]["Arn"]
        self._seq = itertools.count()

    def stop(self) -> None:
        self.aws.stop()

    def roles(self, count: int, prefix: str) -> list[str]:
        """ARNs of `count` new IAM roles that trust the cluster's OIDC provider."""
        run = uuid.uuid4().hex[:6]
        return [
            self.seed.iam.create_role(
                RoleName=f"{prefix}-{run}-{i:02d}", AssumeRolePolicyDocument=json.dumps(TRUST_POLICY)
            )["Role"]["Arn"]
            for i in range(count)
        ]

    def env(self) -> dict[str, str]:
        """Environment of a process talking to this endpoint only."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWARDEN_"))}
        env.update(self.aws.env())
        return env

    def objects(self, count: int, prefix: str) -> list[SecretObject]:
        """`count` new kms objects under a fresh prefix."""
        run = f"{prefix}-{uuid.uuid4().hex[:6]}"
        made = []
        for i in range(count):
            n = next(self._seq)
            plaintext = os.urandom(SIZES[n % len(SIZES)] // 2).hex().encode()
            blob = self.seed.kms.encrypt(KeyId=self.key["KeyId"], Plaintext=plaintext, EncryptionContext=CONTEXT)[
                "CiphertextBlob"
            ]
            as_text = n % 2 == 1
            key = f"{run}/secret-{i:03d}"
            self.seed.put(self.bucket, key, base64.b64encode(blob) if as_text else blob)
            made.append(kms_object(self.bucket, key, f"secret-{i:03d}", as_text, plaintext))
        return made

    def calls(self, mark: int) -> dict[str, Any]:
        """What reached the endpoint since mark: S3 GetObjects (conditional, 304), KMS and STS calls."""
        reqs = [r for r in self.aws.requests.since(mark) if r.service != "moto-api"]
        gets = [r for r in reqs if r.service == "s3" and r.operation == "GetObject"]
        return {
            "s3_get": len(gets),
            "s3_get_conditional": sum(1 for r in gets if r.conditional),
            "s3_get_304": sum(1 for r in gets if r.status == 304),
            "s3_other": sum(1 for r in reqs if r.service == "s3" and r.operation != "GetObject"),
            "kms": dict(Counter(r.operation for r in reqs if r.service == "kms")),
            "kms_total": sum(1 for r in reqs if r.service == "kms"),
            "sts": sum(1 for r in reqs if r.service == "sts"),
            "total": len(reqs),
        }


def kms_object(bucket: str, key: str, alias: str, as_text: bool, plaintext: bytes) -> SecretObject:
    """The SPC spec of a `kms` object stored in S3 (with CONTEXT), and what the bare program
    fetches and must find."""
    spec = {"objectName": f"s3://{bucket}/{key}", "objectType": "kms", "objectAlias": alias,
            "encryptionContext": dict(CONTEXT)}  # fmt: skip
    bare = {"bucket": bucket, "key": key, "kms": True, "base64": as_text, "context": dict(CONTEXT), "path": alias,
            "plaintext_b64": base64.b64encode(plaintext).decode()}  # fmt: skip
    return SecretObject(spec, bare)


def pods(count: int, deployment: str) -> list[Pod]:
    """Pods of one Deployment: one service account, a name and uid each."""
    return [
        Pod(name=f"{deployment}-{i:03d}", namespace=NAMESPACE, uid=str(uuid.uuid4()), service_account=deployment)
        for i in range(count)
    ]


def workload(
    objects: list[SecretObject], pod_list: list[Pod], identity: str = "node", role_arn: str | None = None
) -> dict[str, Any]:
    """Mount requests of one SecretProviderClass, one per pod (IRSA: each pod with its own token)."""
    extra = {"roleArn": role_arn} if role_arn else {}
    params = parameters([o.spec for o in objects], identity=identity, **extra)
    requests = []
    for pod in pod_list:
        tokens = pod_tokens(pod)[0] if identity == "irsa" else None
        requests.append(
            {
                "attributes": build_attributes(params, volume_context(pod, "bench-secrets"), tokens),
                "secrets": "null",
                "target_path": f"/var/lib/kubelet/pods/{pod.uid}/volumes/kubernetes.io~csi/secrets/mount",
                "permission": "420",
            }
        )
    return {"requests": requests, "objects": [o.bare for o in objects]}


def write_workload(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data))
    return path
