"""The fast local AWS endpoint (`keywarden-bench fast-endpoint`, bench/src/fast_endpoint.rs) and
the objects seeded into it, for the figures where the provider's own cost must show.

moto spends milliseconds on each call and serializes them, so against it a Mount of 10 objects
costs nine times a Mount of one, for the provider and the bare program alike, and the provider's
overhead disappears in the endpoint's noise. This endpoint answers S3 GetObject, KMS Decrypt and
STS AssumeRoleWithWebIdentity in microseconds, concurrently, and counts every request per
(service, operation): figures read their call counts there, as they read moto's log. With
`delay_ms` it holds every answer that long (a wait, not work), standing for AWS's latency where a
figure measures concurrency rather than CPU.

Objects are `objectType: kms` as in world.py: the S3 body is a ciphertext handle registered at
the endpoint with its plaintext and encryption context (raw or base64 text, alternately), and
plaintexts cycle through 64 B to 2 KiB.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import urllib.request
import uuid
from typing import Any

from harness.aws import endpoint_env
from harness.process import terminate

from .tools import Binaries
from .world import CONTEXT, SIZES, SecretObject, kms_object


class FastWorld:
    """A running fast endpoint, one bucket, objects on demand."""

    def __init__(self, bins: Binaries, delay_ms: int = 0) -> None:
        self.proc = subprocess.Popen(
            [str(bins.bench), "fast-endpoint", "--delay-ms", str(delay_ms)], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            self.proc.kill()
            raise RuntimeError("the fast endpoint did not start")
        self.url = json.loads(line)["url"]
        self.bucket = f"kw-fast-{uuid.uuid4().hex[:8]}"
        self._seq = itertools.count()

    def stop(self) -> None:
        terminate(self.proc)

    def __enter__(self) -> FastWorld:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def aws_env(self) -> dict[str, str]:
        """The settings that point a process at this endpoint (the keys moto's env sets)."""
        return endpoint_env(self.url)

    def env(self) -> dict[str, str]:
        """Environment of a process talking to this endpoint only."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWARDEN_"))}
        env.update(self.aws_env())
        return env

    def _call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method="POST" if data else "GET")
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def objects(self, count: int, prefix: str) -> list[SecretObject]:
        """`count` new kms objects under a fresh prefix."""
        run = f"{prefix}-{uuid.uuid4().hex[:6]}"
        made, objects, ciphertexts = [], [], []
        for i in range(count):
            n = next(self._seq)
            plaintext = os.urandom(SIZES[n % len(SIZES)] // 2).hex().encode()
            blob = b"fast-ct-" + os.urandom(24)
            as_text = n % 2 == 1
            key = f"{run}/secret-{i:03d}"
            body = base64.b64encode(blob) if as_text else blob
            objects.append({"bucket": self.bucket, "key": key, "body_b64": base64.b64encode(body).decode()})
            ciphertexts.append(
                {
                    "blob_b64": base64.b64encode(blob).decode(),
                    "plaintext_b64": base64.b64encode(plaintext).decode(),
                    "context": dict(CONTEXT),
                }
            )
            made.append(kms_object(self.bucket, key, f"secret-{i:03d}", as_text, plaintext))
        self._call("/_fast/seed", {"objects": objects, "ciphertexts": ciphertexts})
        return made

    def mark(self) -> dict[str, int]:
        return self._call("/_fast/counts")

    def calls(self, mark: dict[str, int]) -> dict[str, Any]:
        """What reached the endpoint since mark, in the shape of World.calls."""
        now = self.mark()
        d = {k: now[k] - mark.get(k, 0) for k in now}
        kms = {op: d[f"kms:{op}"] for op in ("Decrypt", "GenerateDataKey") if d[f"kms:{op}"]}
        return {
            "s3_get": d["s3:GetObject"],
            "s3_get_conditional": d["s3:GetObject:conditional"],
            "s3_get_304": d["s3:GetObject:304"],
            "s3_other": d["s3:other"],
            "kms": kms,
            "kms_total": sum(kms.values()) + d["kms:other"],
            "sts": d["sts:AssumeRoleWithWebIdentity"],
            "total": d["s3:GetObject"] + d["s3:other"] + sum(kms.values()) + d["kms:other"]
            + d["sts:AssumeRoleWithWebIdentity"] + d["other"],
        }  # fmt: skip
