"""Moving a SecretProviderClass off the AWS provider (docs/reference.md §2.3, README "Migrating
from the AWS provider"): manifests written as the AWS provider's README shows them, with only
`spec.provider: aws` changed to `keywarden`, pass `keywarden-provider check` and mount the files
the AWS provider names (alias, else the name with `/` made `_`) with its modes, as the pod's own
IRSA role (taken from the ServiceAccount annotation, as the AWS provider does).

Under IAM enforcement (harness/iam_server.py decides `secretsmanager:GetSecretValue` and
`ssm:GetParameters` against the secret's and each parameter's ARN), a tenant reads its own secrets
and parameters and is refused the other tenant's, whatever the caches hold: the oracle is the
endpoint's request log (status and signing key of each call).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import grpc
import yaml

from harness import commands, mounts
from harness.checks import assert_mount_fails
from harness.driver import Driver
from harness.iam import TenantWorld
from harness.iam_fixtures import (  # noqa: F401  (fixtures)
    iam_aws,
    kube_api,
    pod_agent,
    start_iam_provider,
    tenant_pod,
    tenants,
    tokens_for,
)
from harness.spc import parameters

# As in the AWS provider's README (names substituted; only `provider` changed).
README_MANIFEST = """\
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: nginx-deployment-aws-secrets
spec:
  provider: keywarden
  parameters:
    objects: |
        - objectName: "{secret}"
          objectType: "secretsmanager"
          jmesPath:
            - path: "username"
              objectAlias: "dbusername"
            - path: "password"
              objectAlias: "dbpassword"
        - objectName: "{secret_arn}"
          objectAlias: "MySecretByArn"
          filePermission: "0400"
        - objectName: "{parameter}"
          objectType: "ssmparameter"
        - objectName: "{parameter}"
          objectType: "ssmparameter"
          objectAlias: "MyParameterV1"
          objectVersion: "1"
    region: "us-east-1"
    pathTranslation: "_"
"""


def _seed(tenants: TenantWorld, tenant: str) -> dict[str, Any]:
    uid = uuid.uuid4().hex[:8]
    secret = f"{tenant}/MySecret-{uid}"
    doc = '{"username": "app-%s", "password": "pw-%s"}' % (uid, uuid.uuid4().hex)
    created = tenants.secrets.create_secret(Name=secret, SecretString=doc)
    parameter = f"/{tenant}/MyParameter-{uid}"
    tenants.ssm.put_parameter(Name=parameter, Value=f"one-{uid}", Type="SecureString")
    tenants.ssm.put_parameter(Name=parameter, Value=f"two-{uid}", Type="SecureString", Overwrite=True)
    return {"secret": secret, "secret_arn": created["ARN"], "doc": doc, "parameter": parameter, "uid": uid}


def _manifest(tmp: Path, seeded: dict[str, Any]) -> tuple[Path, dict[str, str]]:
    text = README_MANIFEST.format(**seeded)
    path = tmp / "spc.yaml"
    path.write_text(text)
    return path, yaml.safe_load(text)["spec"]["parameters"]


def test_readme_manifest_checks_and_mounts_the_aws_provider_files(
    start_iam_provider, tenants: TenantWorld, tmp_path: Path, target, say
) -> None:
    seeded = _seed(tenants, "tenant-a")
    spc, params = _manifest(tmp_path, seeded)
    checked = commands.check(tenants.node_env(), spc, namespace="tenant-a")
    say(f"check: rc {checked.returncode}, {checked.stdout.strip()[:200]}")
    assert checked.returncode == 0, checked.stderr
    provider = start_iam_provider()
    pod = tenant_pod("tenant-a")
    attr, _ = tokens_for(pod)
    log = tenants.endpoint.requests
    with Driver(provider.socket_path) as d:
        mark = log.mark()
        result = d.mount(params, target, pod=pod, tokens=attr)
        calls = [(r.service, r.operation, r.status) for r in log.since(mark)]
    say(f"files {sorted(result.files)}; calls {calls}")
    uid = seeded["uid"]
    # The AWS provider's names: the alias, else the objectName with / replaced by _.
    expected = {
        seeded["secret"].replace("/", "_"): (seeded["doc"].encode(), 0o644),
        "dbusername": (f"app-{uid}".encode(), 0o644),
        "MySecretByArn": (seeded["doc"].encode(), 0o400),
        seeded["parameter"].replace("/", "_"): (f"two-{uid}".encode(), 0o644),
        "MyParameterV1": (f"one-{uid}".encode(), 0o644),
    }
    got = {p: (f.contents, f.mode) for p, f in result.files.items() if p != "dbpassword"}
    assert got == expected
    assert result.files["dbpassword"].contents.startswith(b"pw-")
    reads = [c for c in calls if c[0] in ("secretsmanager", "ssm")]
    assert sorted(reads) == sorted([("secretsmanager", "GetSecretValue", 200)] * 2 + [("ssm", "GetParameters", 200)] * 2)
    assert ("sts", "AssumeRoleWithWebIdentity", 200) in calls, "the pod's IRSA role, not the node's keys"


def test_tenant_isolation_for_secrets_and_parameters(
    start_iam_provider, tenants: TenantWorld, target, say
) -> None:
    own, other = _seed(tenants, "tenant-a"), _seed(tenants, "tenant-b")
    provider = start_iam_provider()
    pod = tenant_pod("tenant-a")
    attr, _ = tokens_for(pod)
    log = tenants.endpoint.requests
    with Driver(provider.socket_path) as d:
        for kind, name in (("secretsmanager", "secret"), ("ssmparameter", "parameter")):
            mine = parameters([{"objectName": own[name], "objectType": kind, "objectAlias": "v"}], identity=None)
            theirs = parameters([{"objectName": other[name], "objectType": kind, "objectAlias": "v"}], identity=None)
            # tenant-b's pod warms the caches with its own read first: tenant-a must still be refused.
            pod_b = tenant_pod("tenant-b")
            attr_b, _ = tokens_for(pod_b)
            d.mount(theirs, target, pod=pod_b, tokens=attr_b)
            mounts.clear(target)
            assert d.mount(mine, target, pod=pod, tokens=attr).files["v"].contents
            mounts.clear(target)
            mark = log.mark()
            failure = assert_mount_fails(d, theirs, target, grpc.StatusCode.PERMISSION_DENIED, say=say,
                                         pod=pod, tokens=attr)
            reqs = [r for r in log.since(mark) if r.service in ("secretsmanager", "ssm")]
            say(f"{kind}: tenant-b's value for tenant-a -> {[(r.operation, r.status) for r in reqs]}")
            assert reqs and all(r.status == 400 for r in reqs), "IAM (the endpoint) refused the read"
            assert all(r.access_key != tenants.admin_key for r in reqs), "read with the pod's role, not the node's"
            assert "pw-" not in failure.details and "two-" not in failure.details, "no value in the message"
