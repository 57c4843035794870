"""Secrets Manager and Parameter Store: the calls a Mount and a re-Mount make, measured at moto,
beside the AWS provider's call pattern on driver 1.6.

PODS pods of one Deployment (one identity) mount the same SECRETS secrets and PARAMETERS
parameters at once, then re-Mount, as the driver does about once a minute. Keywarden reads each
secret once (identical reads coalesced) and the parameters with `GetParameters`, ten per call,
then serves re-Mounts within `--cache-ttl` from its cache. The AWS provider's pattern is what its
code does on driver 1.6 (which sends no current versions, so no `DescribeSecret` shortcut): per
pod and per Mount or rotation, one `GetSecretValue` per secret and one `GetParameters` per ten
parameters. Every Mount's files are checked against the values seeded.
"""

from __future__ import annotations

import base64
import math
import os
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from harness.aws import client

from .provider_figures import provider
from .report import Row
from .tools import Binaries
from .world import SecretObject, World, pods, workload, write_workload

SECRETS, PARAMETERS, PODS = 5, 15, 20
READS = (("secretsmanager", "GetSecretValue"), ("secretsmanager", "DescribeSecret"),
         ("ssm", "GetParameters"), ("ssm", "GetParameter"))  # fmt: skip


def _objects(world: World) -> list[SecretObject]:
    run = uuid.uuid4().hex[:6]
    sm, ssm = client(world.aws.url, "secretsmanager"), client(world.aws.url, "ssm")
    made = []
    for kind, count in (("secretsmanager", SECRETS), ("ssmparameter", PARAMETERS)):
        for i in range(count):
            value = os.urandom(32).hex()
            if kind == "secretsmanager":
                name = f"bench/{run}/secret-{i:02d}"
                sm.create_secret(Name=name, SecretString=value)
            else:
                name = f"/bench/{run}/parameter-{i:02d}"
                ssm.put_parameter(Name=name, Value=value, Type="SecureString")
            alias = f"{kind}-{i:02d}"
            made.append(SecretObject(
                spec={"objectName": name, "objectType": kind, "objectAlias": alias},
                bare={"bucket": "", "key": "", "kms": False, "base64": False, "context": {}, "path": alias,
                      "plaintext_b64": base64.b64encode(value.encode()).decode()},
            ))  # fmt: skip
    return made


def managed_calls(world: World, bins: Binaries, scratch: Path, say: Any) -> Row:
    objects = _objects(world)
    path = write_workload(scratch / "managed.json", workload(objects, pods(PODS, "managed")))
    rounds = []
    with provider(world.aws.env(), bins) as prov:
        for _ in range(2):  # the Mount, then the re-Mount
            mark = world.aws.requests.mark()
            result = bins.run("burst", "--socket", str(prov.socket_path), "--workload", str(path), env=world.env())
            seen = Counter((r.service, r.operation) for r in world.aws.requests.since(mark))
            rounds.append({"ok": result["ok"], "failures": result["failures"],
                           "calls": {f"{s}:{o}": seen[(s, o)] for s, o in READS}})  # fmt: skip
    say(f"calls per round: {[r['calls'] for r in rounds]}")
    per_pod = SECRETS + math.ceil(PARAMETERS / 10)
    aws_provider = PODS * per_pod
    mount, remount = (sum(r["calls"].values()) for r in rounds)
    ok = all(r["ok"] == PODS and not r["failures"] for r in rounds)
    made = " + ".join(f"{n} {call.split(':')[1]}" for call, n in rounds[0]["calls"].items() if n)
    return Row(
        figure=(
            f"Secrets Manager and SSM: {PODS} pods (one identity) × {SECRETS} secrets + {PARAMETERS} parameters, "
            "calls per Mount round / re-Mount round"
        ),
        measured=f"{mount} / {remount} ({made})",
        baseline=f"AWS provider (driver 1.6): {aws_provider} / {aws_provider} ({PODS} × ({SECRETS} GetSecretValue "
                 f"+ {math.ceil(PARAMETERS / 10)} GetParameters))",  # fmt: skip
        target=f"≤ {per_pod} / 0 (one read per secret, one call per ten parameters, per identity; none within the TTL)",
        passed=ok and mount <= per_pod and remount == 0,
        ratio=mount / aws_provider,
        detail={"pods": PODS, "secrets": SECRETS, "parameters": PARAMETERS, "rounds": rounds,
                "aws_provider_per_round": aws_provider},  # fmt: skip
    )
