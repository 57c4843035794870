"""The example manifests under charts/keywarden/examples/: valid Kubernetes objects, and
SecretProviderClass parameters exactly as docs/reference.md §2.3 defines them."""

from __future__ import annotations

import base64
import re

import jsonschema
import kubernetes_validate
import pytest
import yaml

from conftest import CHART, EXAMPLES, KUBERNETES_VERSIONS
from crd_schemas import CRD_SCHEMAS

# Values files for the upstream charts (the CSI driver's, the sync controller's), not manifests.
UPSTREAM_VALUES = {"csi-driver-values.yaml", "sync-controller-values.yaml"}
MANIFESTS = sorted(p for p in EXAMPLES.glob("*.yaml") if p.name not in UPSTREAM_VALUES)

# docs/reference.md §2.3: the parameters Keywarden reads, and the keys of one object spec.
PARAMETERS = {"objects", "region", "identity", "roleArn"}
IDENTITIES = {"irsa", "podIdentity", "node"}
OBJECT_KEYS = {
    "objectName", "objectType", "ciphertext", "objectAlias", "objectVersion",
    "filePermission", "encryptionContext", "jmesPath",
}
OBJECT_TYPES = {"s3", "kms", "sealed"}
JMES_KEYS = {"path", "objectAlias", "filePermission"}
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$")
REGION = re.compile(r"^[a-z0-9-]{1,32}$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MODE = re.compile(r"^0?[0-7]{3}$")


def load(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def check_path(alias: str, where: str) -> None:
    """docs/reference.md §2.3 path rules: relative, clean, no `..` element or element starting with `..`."""
    assert alias and not alias.startswith("/"), f"{where}: {alias!r} must be relative"
    elements = alias.split("/")
    assert all(elements), f"{where}: {alias!r} is not clean"
    for e in elements:
        assert e != "." and not e.startswith(".."), f"{where}: {alias!r} has element {e!r}"
        assert len(e.encode()) <= 255
    assert len(alias.encode()) <= 4096


def check_spc_parameters(params: dict, where: str) -> list[dict]:
    """Validates the parameters; returns the object specs."""
    unknown = set(params) - PARAMETERS
    assert not unknown, f"{where}: parameters {sorted(unknown)} are not read by Keywarden"
    if "identity" in params:
        assert params["identity"] in IDENTITIES, f"{where}: identity {params['identity']!r}"
    if "roleArn" in params:
        assert ROLE_ARN.match(params["roleArn"]), f"{where}: roleArn {params['roleArn']!r}"
        assert params.get("identity", "irsa") == "irsa", f"{where}: roleArn applies to irsa only"
    if "region" in params:
        assert REGION.match(params["region"]), f"{where}: region {params['region']!r}"
    objects = yaml.safe_load(params["objects"])
    assert isinstance(objects, list) and objects, f"{where}: objects must be a non-empty list"
    aliases: set[str] = set()

    def claim(alias, owner):
        check_path(alias, owner)
        assert alias not in aliases, f"{owner}: duplicate alias {alias!r}"
        aliases.add(alias)

    for i, obj in enumerate(objects):
        owner = f"{where} objects[{i}]"
        assert isinstance(obj, dict), owner
        unknown = set(obj) - OBJECT_KEYS
        assert not unknown, f"{owner}: unknown keys {sorted(unknown)}"
        assert all(isinstance(obj[k], str) for k in obj if k not in ("encryptionContext", "jmesPath")), owner
        kind = obj.get("objectType", "s3")
        assert kind in OBJECT_TYPES, f"{owner}: objectType {kind!r}"
        assert ("objectName" in obj) != ("ciphertext" in obj), f"{owner}: objectName xor ciphertext"
        if "objectName" in obj:
            m = re.match(r"^s3://([^/]+)/(.+)$", obj["objectName"])
            assert m and BUCKET.match(m.group(1)), f"{owner}: objectName {obj['objectName']!r}"
            alias = obj.get("objectAlias", m.group(2).rsplit("/", 1)[-1])
        else:
            assert kind in ("kms", "sealed"), f"{owner}: ciphertext needs objectType kms or sealed"
            assert "objectAlias" in obj, f"{owner}: ciphertext requires objectAlias"
            assert "objectVersion" not in obj, f"{owner}: objectVersion applies to S3 objects"
            base64.b64decode(obj["ciphertext"], validate=True)
            alias = obj["objectAlias"]
        if "filePermission" in obj:
            assert MODE.match(obj["filePermission"]), f"{owner}: filePermission {obj['filePermission']!r}"
        if "encryptionContext" in obj:
            assert kind == "kms", f"{owner}: encryptionContext applies to objectType kms"
            ctx = obj["encryptionContext"]
            assert isinstance(ctx, dict) and all(isinstance(v, str) for v in ctx.values()), owner
        for j, jp in enumerate(obj.get("jmesPath") or []):
            assert set(jp) <= JMES_KEYS and {"path", "objectAlias"} <= set(jp), f"{owner} jmesPath[{j}]"
            if "filePermission" in jp:
                assert MODE.match(jp["filePermission"]), f"{owner} jmesPath[{j}]"
            claim(jp["objectAlias"], f"{owner} jmesPath[{j}]")
        claim(alias, owner)
    return objects


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_example(path):
    docs = load(path)
    kinds = [d["kind"] for d in docs]
    assert kinds == ["ServiceAccount", "SecretProviderClass", "Pod"], kinds
    for version in KUBERNETES_VERSIONS:
        for d in docs:
            if d["kind"] in CRD_SCHEMAS:
                jsonschema.validate(d, CRD_SCHEMAS[d["kind"]])
            else:
                kubernetes_validate.validate(d, version, strict=True)
    sa, spc, pod = docs
    ns = spc["metadata"]["namespace"]
    assert sa["metadata"]["namespace"] == ns == pod["metadata"]["namespace"], "one namespace"
    assert spc["spec"]["provider"] == "keywarden"
    objects = check_spc_parameters(spc["spec"]["parameters"], path.name)
    # The pod mounts this SPC through the CSI driver, as this ServiceAccount.
    assert pod["spec"]["serviceAccountName"] == sa["metadata"]["name"]
    csi = [v["csi"] for v in pod["spec"]["volumes"] if "csi" in v]
    assert csi == [{
        "driver": "secrets-store.csi.k8s.io",
        "readOnly": True,
        "volumeAttributes": {"secretProviderClass": spc["metadata"]["name"]},
    }]
    identity = spc["spec"]["parameters"].get("identity", "irsa")
    annotated = "eks.amazonaws.com/role-arn" in sa["metadata"].get("annotations", {})
    if identity == "irsa":
        assert annotated or "roleArn" in spc["spec"]["parameters"], f"{path.name}: IRSA needs a role"
    else:
        assert "roleArn" not in spc["spec"]["parameters"]
    print(f"{path.name}: identity={identity}, objects={[o.get('objectType', 's3') for o in objects]}")


def test_examples_cover_every_identity_and_object_type():
    identities, kinds, features = set(), set(), set()
    for path in MANIFESTS:
        sa, spc, _ = load(path)
        params = spc["spec"]["parameters"]
        identity = params.get("identity", "irsa")
        if identity == "irsa":
            identity = "irsa/roleArn" if "roleArn" in params else "irsa/annotation"
            if "roleArn" not in params:
                assert "eks.amazonaws.com/role-arn" in sa["metadata"]["annotations"]
        identities.add(identity)
        for obj in yaml.safe_load(params["objects"]):
            kinds.add(obj.get("objectType", "s3"))
            features |= {k for k in ("ciphertext", "jmesPath", "encryptionContext", "objectVersion") if k in obj}
    assert identities == {"irsa/roleArn", "irsa/annotation", "podIdentity", "node"}
    assert kinds == OBJECT_TYPES
    # objectVersion is not among them: an example applied as written cannot name a VersionId
    # that exists before its object is uploaded. The README's example pins one, with the
    # VersionId as a stated placeholder, and e2e/test_docs_examples.py mounts it.
    assert features == {"ciphertext", "jmesPath", "encryptionContext"}


@pytest.mark.parametrize(
    "params",
    [
        {"objects": "- objectName: s3://b/k\n  objectAlais: x\n"},
        {"objects": "- objectName: https://bucket/key\n"},
        {"objects": "- ciphertext: AQID\n  objectType: kms\n"},
        {"objects": "- objectName: s3://bucket/a\n  objectAlias: ../x\n"},
        {"objects": "- objectName: s3://bucket/a\n- objectName: s3://other/a\n"},
        {"objects": "- objectName: s3://bucket/a\n  filePermission: '0999'\n"},
        {"objects": "- objectName: s3://bucket/a\n  encryptionContext: {a: b}\n"},
        {"objects": "[]"},
        {"objects": "- objectName: s3://bucket/a\n", "identity": "pod"},
        {"objects": "- objectName: s3://bucket/a\n", "usePodIdentity": "true"},
    ],
)
def test_parameter_checker_rejects(params):
    """The checker above refuses what docs/reference.md §2.3 refuses (so a passing example means something)."""
    with pytest.raises(AssertionError):
        check_spc_parameters(params, "bad")


# --- the values file for the upstream CSI driver chart -----------------------------------------

# Top-level keys of the secrets-store-csi-driver 1.6 chart this file may set.
DRIVER_KEYS = {
    "linux", "windows", "tokenRequests", "enableSecretRotation", "rotationPollInterval",
    "maxCallRecvMsgSize", "syncSecret", "providerHealthCheck", "providerHealthCheckInterval",
    "logVerbosity", "logFormatJSON",
}


def test_csi_driver_values():
    values = yaml.safe_load((EXAMPLES / "csi-driver-values.yaml").read_text())
    assert set(values) <= DRIVER_KEYS, sorted(set(values) - DRIVER_KEYS)
    audiences = [t["audience"] for t in values["tokenRequests"]]
    assert audiences == ["sts.amazonaws.com", "pods.eks.amazonaws.com"]
    assert values["enableSecretRotation"] is True
    chart = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["linux"]["providersDir"] == chart["providerDir"]
    assert chart["identity"]["tokenAudience"] in audiences
    assert values["maxCallRecvMsgSize"] >= chart["maxResponseBytes"]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_example_accepted_by_keywarden_check(path):
    """The provider's own parser accepts every example: `keywarden-provider check` applies the
    exact rules a Mount applies, offline and without AWS calls."""
    import os
    import subprocess

    binary = os.environ.get("KEYWARDEN_PROVIDER_BIN", "")
    assert binary and os.path.exists(binary), "run through `make chart-check`, which builds keywarden-provider"
    env = {"PATH": os.environ.get("PATH", ""), "AWS_EC2_METADATA_DISABLED": "true"}
    proc = subprocess.run([binary, "check", "--spc", str(path)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, f"{path.name}: {proc.stderr.strip()}"
    spc = next(d for d in load(path) if d["kind"] == "SecretProviderClass")
    count = len(yaml.safe_load(spc["spec"]["parameters"]["objects"]))
    assert f"{count} object(s) valid" in proc.stdout, proc.stdout
    print(f"{path.name}: {proc.stdout.splitlines()[0]}")
