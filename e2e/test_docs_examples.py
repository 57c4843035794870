"""Every example manifest of the README, docs/ and charts/keywarden/examples/, mounted end to end
after doing exactly what the documentation says, against the local AWS endpoint that enforces
IAM (harness/iam.py; what moto does not model, harness/iam_policy.py decides: KMS key ARNs,
conditions, the key policy, S3's own SSE-KMS calls, the Pod Identity service's AssumeRole).

Nothing is copied from the docs into this file. It reads:

- docs/install.md: the shell blocks of §4.1 (key, bucket, the first example's objects), §4.2
  (roles), §4.3 (namespace), §7 (key policy), and every JSON block a sentence names
  (`trust.json`, `read.json`, `read-kms.json`, `read-sealed.json`, `seal.json`,
  `trust-pod-identity.json`, `key-policy.json`), instantiated per workload with the
  placeholders install.md declares (account, region, bucket, key ARN, OIDC issuer, namespace,
  ServiceAccount); the chart's `--set region=` of §3 is the provider's `--region`;
- each example's `# Setup` comment: the commands to run (aws, keywarden-provider seal,
  kubectl create namespace), run as written, with boto3 standing in for the AWS CLI;
- the manifests (ServiceAccount, SecretProviderClass, Pod), mounted with the pod's identity.

Outside the docs, the harness supplies only what a cluster and CI supply: the OIDC provider of
the cluster, the ServiceAccount tokens, the Pod Identity agent, the identity that CI seals as
(role `ci-secrets-sealer`) and the provider's own role (`kube-system-keywarden-secrets`), and
local files with random contents where a command names one. The oracle is what the user put in
S3 (or sealed, or encrypted): each mounted file must hold exactly those bytes, with the mode
`filePermission` gives (0644 by default), and nothing else may be mounted. A policy statement the
docs leave out, an object they never upload, or a namespace they never create fails the test;
test_a_missing_statement_fails proves that the endpoint notices a dropped statement.
"""

from __future__ import annotations

import json
import re
import shlex
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness import commands
from harness.aws import client as aws_client
from harness.docs import REPO, AwsCli, NotAws, Placeholders, blocks, jmes_document, manifests, named_json, setup_commands, shell_commands
from harness.driver import Driver, MountFailed, Pod
from harness.fixtures import launcher
from harness.iam import ACCOUNT, IamEndpoint, TenantWorld
from harness.iam_fixtures import iam_aws, tenants, tokens_for  # noqa: F401  (fixtures)
from harness.iam_server import POD_IDENTITY_SERVICE_USER
from harness.kube_api import FakeKubeApi
from harness.pod_identity import FakePodIdentityAgent
from harness.provider import ProviderProcess
from harness.tokens import ISSUER

INSTALL = REPO / "docs/install.md"
README = REPO / "README.md"
EXAMPLES = REPO / "charts/keywarden/examples"
EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.glob("*.yaml")
                       if p.name not in ("csi-driver-values.yaml", "sync-controller-values.yaml"))
WALKTHROUGH_EXAMPLE = "irsa-role-arn.yaml"  # the example docs/install.md §4.3 applies
STAND_IN_ROLES = ("ci-secrets-sealer", "kube-system-keywarden-secrets")


def _install_sh() -> list[list[str]]:
    return [shell_commands(b.text) for b in blocks(INSTALL) if b.lang == "sh"]


def _block_with(needle: str) -> list[str]:
    found = [cmds for cmds in _install_sh() if any(needle in c for c in cmds)]
    assert len(found) == 1, f"docs/install.md: {len(found)} shell blocks contain {needle!r}"
    return found[0]


def chart_region() -> str:
    m = re.search(r"--set region=(\S+)", " ".join(_block_with("helm upgrade --install keywarden charts/keywarden")))
    assert m, "docs/install.md §3 sets no region"
    return m.group(1)


@dataclass
class Seeded:
    """What the user put where: S3 URI (or `inline`) -> plaintext."""

    plaintext: dict[str, bytes] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=set)
    inline_ciphertext: str | None = None
    versions: dict[str, str] = field(default_factory=dict)


class DocsWorld:
    """The AWS account of the docs, on the IAM-enforcing endpoint, seeded only by their commands."""

    def __init__(self, endpoint: IamEndpoint, admin_key: str, admin_secret: str, workdir: Path) -> None:
        self.endpoint = endpoint
        self.admin = (admin_key, admin_secret, None)
        self.workdir = workdir
        self.policies = named_json(INSTALL)
        self.keys: dict[str, str] = {}  # region -> key ARN
        self.regions_done: set[str] = set()
        self.walkthrough: Seeded | None = None
        self.agent = FakePodIdentityAgent(self._pod_identity_credentials)
        iam = self.client("iam", "us-east-1")
        iam.create_user(UserName=POD_IDENTITY_SERVICE_USER)
        k = iam.create_access_key(UserName=POD_IDENTITY_SERVICE_USER)["AccessKey"]
        self.pod_identity_service = (k["AccessKeyId"], k["SecretAccessKey"], None)
        admin_arn = f"arn:aws:iam::{ACCOUNT}:user/keywarden-admin"  # harness/iam.py's admin
        stand_in_trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": admin_arn}, "Action": "sts:AssumeRole"}]})
        for role in STAND_IN_ROLES:
            iam.create_role(RoleName=role, AssumeRolePolicyDocument=stand_in_trust)
        oidc = self.client("iam", "us-east-1").list_open_id_connect_providers()["OpenIDConnectProviderList"]
        assert oidc, "the cluster's OIDC provider (harness/iam.py) is missing"

    def client(self, service: str, region: str, creds: tuple[str, str, str | None] | None = None) -> Any:
        key, secret, token = creds or self.admin
        return aws_client(self.endpoint.url, service, region, key, secret, token)

    def role_session(self, role: str) -> tuple[str, str, str]:
        c = self.client("sts", "us-east-1").assume_role(
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName=f"docs-{uuid.uuid4().hex[:8]}")["Credentials"]
        return c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]

    def _pod_identity_credentials(self, role: str, session: str) -> dict[str, Any]:
        sts = self.client("sts", "us-east-1", self.pod_identity_service)
        return sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName=session)["Credentials"]

    def placeholders(self, region: str, bucket: str, namespace: str = "payments",
                     service_account: str = "checkout") -> Placeholders:
        return Placeholders(account=ACCOUNT, region=region, bucket=bucket, namespace=namespace,
                            service_account=service_account, key_arn=self.keys.get(region, ""),
                            issuer_host=ISSUER.removeprefix("https://"))

    def cli(self, p: Placeholders) -> AwsCli:
        files = {name: p.apply(text) for name, text in self.policies.items()}
        return AwsCli(client=lambda s, r: self.client(s, r), cwd=self.workdir, files=files, region=p.region)

    def ensure_region(self, region: str, bucket: str) -> None:
        """docs/install.md §4.1 (key, bucket) and §7 (key policy) for this region and bucket."""
        if region in self.regions_done:
            return
        cli = self.cli(self.placeholders(region, bucket))
        for command in _block_with("aws kms create-key"):
            cli.run(self.placeholders(region, bucket).apply(command))
        key_id = cli.variables["KEY_ID"]
        self.keys[region] = self.client("kms", region).describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
        cli = self.cli(self.placeholders(region, bucket))
        cli.variables["KEY_ID"] = key_id
        for block in (_block_with("aws s3api create-bucket"), _block_with("aws kms put-key-policy")):
            for command in block:
                cli.run(self.placeholders(region, bucket).apply(command))
        self.regions_done.add(region)

    def run_commands(self, cmds: list[str], p: Placeholders, seeded: Seeded, provider_env: dict[str, str],
                     spc: dict[str, Any] | None = None) -> None:
        cli = self.cli(p)
        for command in cmds:
            self._local_files(command, spc)
            _note_plaintext(command, self.workdir, seeded)
            argv = shlex.split(command)
            if argv[:3] == ["kubectl", "create", "namespace"]:
                seeded.namespaces.add(argv[3])
                continue
            if argv[:3] == ["aws", "eks", "create-pod-identity-association"]:
                opts = dict(zip(argv[3::2], argv[4::2]))
                role = opts["--role-arn"].rsplit("/", 1)[1]
                self.agent.associate(opts["--namespace"], opts["--service-account"], role)
                continue
            if argv[0] == "keywarden-provider":
                sealer = self.role_session("ci-secrets-sealer")
                env = {**provider_env, "AWS_ACCESS_KEY_ID": sealer[0], "AWS_SECRET_ACCESS_KEY": sealer[1],
                       "AWS_SESSION_TOKEN": sealer[2], "AWS_REGION": p.region}
                run = commands.run(argv[1:], env, cwd=self.workdir)
                assert run.returncode == 0, run.describe()
                continue
            command = p.apply(command) if Placeholders.DOC_ACCOUNT in command else command
            try:
                out = cli.run(command)
            except NotAws:
                raise AssertionError(f"no way to run {command!r} here") from None
            if out and "--output text" in command and "|" not in command and "encrypt" in command:
                seeded.inline_ciphertext = out.strip()

    def _local_files(self, command: str, spc: dict[str, Any] | None) -> None:
        """Create the local files a command reads: random contents, and for a *.json file a
        document holding a random string at each jmesPath path of the example."""
        import yaml

        for name in re.findall(r"fileb://([\w.-]+)|--in ([\w.-]+)|s3 cp ([\w.][\w.-]*) s3://", command):
            name = next(n for n in name if n)
            path = self.workdir / name
            if path.exists():
                continue
            if name.endswith(".json") and spc is not None:
                paths = [e["path"] for o in yaml.safe_load(spc["spec"]["parameters"]["objects"])
                         for e in o.get("jmesPath", [])]
                doc, _ = jmes_document(paths, lambda p: f"{p}-{uuid.uuid4().hex[:8]}")
                path.write_text(json.dumps(doc))
            else:
                path.write_bytes(f"{name}-{uuid.uuid4().hex}".encode())


def _note_plaintext(command: str, cwd: Path, seeded: Seeded) -> None:
    dest = re.search(r"(s3://\S+)", command)
    printf = re.match(r"printf '%s' '([^']*)' \| aws s3 cp - (s3://\S+)", command)
    if printf:
        seeded.plaintext[printf.group(2)] = printf.group(1).encode()
        return
    src = re.search(r"s3 cp ([\w.][\w.-]*) (s3://\S+)", command) \
        or re.search(r"fileb://([\w.-]+).*?(s3://\S+)", command) or re.search(r"--in ([\w.-]+) --out (s3://\S+)", command)
    if src and src.group(1) != "-":
        seeded.plaintext[src.group(2)] = (cwd / src.group(1)).read_bytes()
    elif dest is None:
        m = re.search(r"fileb://([\w.-]+)", command)
        if m:
            seeded.plaintext["inline"] = (cwd / m.group(1)).read_bytes()


@dataclass
class ChartProvider(ProviderProcess):
    """keywarden-provider as the chart runs it, with `--region` from the chart's `region`."""

    region: str = "eu-west-1"

    def argv(self) -> list[str]:
        args = super().argv()
        args[args.index("--region") + 1] = self.region
        return args


@pytest.fixture(scope="module")
def docs_world(iam_aws: IamEndpoint, tenants: TenantWorld) -> Iterator[DocsWorld]:  # noqa: F811
    with tempfile.TemporaryDirectory(prefix="kw-docs-") as d:
        world = DocsWorld(iam_aws, tenants.admin_key, tenants.admin_secret, Path(d))
        world.agent.start()
        try:
            yield world
        finally:
            world.agent.stop()


@pytest.fixture
def start_chart_provider(docs_world: DocsWorld) -> Iterator[Callable[..., ProviderProcess]]:
    def make(workdir: Path, kube: FakeKubeApi, extra_args: list[str], node_creds: tuple[str, str, str | None]) -> ProviderProcess:
        env = docs_world.endpoint.env(node_creds[0], node_creds[1])
        if node_creds[2]:
            env["AWS_SESSION_TOKEN"] = node_creds[2]
        env["KEYWARDEN_KUBERNETES_API"] = kube.url
        env["KEYWARDEN_POD_IDENTITY_ENDPOINTS"] = docs_world.agent.url
        return ChartProvider(workdir=workdir, aws_env=env, extra_args=extra_args, node_identity=False,
                             region=chart_region())

    with launcher("kw-docp-", make) as start:
        yield start


def walkthrough(world: DocsWorld) -> Seeded:
    """docs/install.md §4, once: §4.1 key, bucket and objects, §4.2 role, §4.3 namespace."""
    if world.walkthrough is None:
        seeded = Seeded()
        region = chart_region()
        world.ensure_region(region, "acme-secrets-eu-west-1")
        p = world.placeholders(region, "acme-secrets-eu-west-1")
        cmds = (_block_with("aws s3 cp - s3://") + _block_with("aws iam create-role")
                + [c for c in _block_with("kubectl apply -f") if c.startswith("kubectl create namespace")])
        world.run_commands(cmds, p, seeded, {})
        world.walkthrough = seeded
    return world.walkthrough


def _one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    found = [d for d in docs if d.get("kind") == kind]
    assert len(found) <= 1, f"more than one {kind}"
    return found[0] if found else None


def _bucket_region(spc: dict[str, Any]) -> tuple[str, str]:
    params = spc["spec"]["parameters"]
    objects = json.loads(json.dumps(__import__("yaml").safe_load(params["objects"])))
    buckets = {o["objectName"][len("s3://"):].split("/", 1)[0] for o in objects if "objectName" in o}
    assert len(buckets) <= 1, buckets
    region = params.get("region", chart_region())
    return (buckets.pop() if buckets else f"acme-secrets-{region}"), region


def expected_files(spc: dict[str, Any], seeded: Seeded) -> dict[str, tuple[bytes, int]]:
    """{path: (contents, mode)} the pod must see: what the user put in S3 or sealed or encrypted."""
    import yaml

    out: dict[str, tuple[bytes, int]] = {}
    for obj in yaml.safe_load(spc["spec"]["parameters"]["objects"]):
        source = obj.get("objectName", "inline")
        assert source in seeded.plaintext, f"the docs never put anything at {source}"
        name = obj.get("objectAlias") or source.rsplit("/", 1)[1]
        out[name] = (seeded.plaintext[source], int(str(obj.get("filePermission", "0644")), 8))
        if "jmesPath" in obj:
            document = json.loads(seeded.plaintext[source])
            import jmespath

            for entry in obj["jmesPath"]:
                out[entry["objectAlias"]] = (jmespath.search(entry["path"], document).encode(),
                                             int(str(entry.get("filePermission", "0644")), 8))
    return out


def mount_example(world: DocsWorld, start: Callable[..., ProviderProcess], target: Path,
                  docs: list[dict[str, Any]], seeded: Seeded, say: Callable[[str], None],
                  pod_doc: dict[str, Any], sa_doc: dict[str, Any] | None, extra_args: list[str],
                  node_creds: tuple[str, str, str | None] | None = None,
                  expect_from: dict[str, Any] | None = None) -> None:
    spc = _one(docs, "SecretProviderClass")
    assert spc is not None
    ns = pod_doc["metadata"]["namespace"]
    assert ns in seeded.namespaces, f"the docs never create namespace {ns!r} the pod is applied into"
    assert spc["metadata"].get("namespace", ns) == ns, "SecretProviderClass and Pod in different namespaces"
    volumes = [v["csi"] for v in pod_doc["spec"]["volumes"] if "csi" in v]
    assert [v["volumeAttributes"]["secretProviderClass"] for v in volumes] == [spc["metadata"]["name"]]
    params = {k: Placeholders(account=ACCOUNT).apply(str(v)) if Placeholders.DOC_ACCOUNT in str(v) else str(v)
              for k, v in spc["spec"]["parameters"].items()}
    if seeded.inline_ciphertext:
        params["objects"] = re.sub(r"(ciphertext: )\S+", lambda m: m.group(1) + seeded.inline_ciphertext, params["objects"])
    kube = FakeKubeApi()
    sa_name = pod_doc["spec"]["serviceAccountName"]
    if sa_doc is not None:
        role = (sa_doc["metadata"].get("annotations") or {}).get("eks.amazonaws.com/role-arn")
        kube.add(ns, sa_name, Placeholders(account=ACCOUNT).apply(role) if role else None)
    kube.start()
    try:
        provider = start(kube, extra_args, node_creds or world.admin)
        pod = Pod(name=pod_doc["metadata"]["name"], namespace=ns, uid=str(uuid.uuid4()), service_account=sa_name)
        attr, _ = tokens_for(pod, world.agent)
        with Driver(provider.socket_path) as d:
            try:
                result = d.mount(params, target, pod=pod, spc_name=spc["metadata"]["name"], tokens=attr)
            except MountFailed as e:
                raise AssertionError(f"mount of {ns}/{pod.name} failed: {e}\n--- provider log ---\n"
                                     f"{provider.log_text()[-3000:]}") from None
    finally:
        kube.stop()
    want = expected_files(expect_from or spc, seeded)
    got = {path: (f.contents, f.mode) for path, f in result.files.items()}
    say(f"{ns}/{pod.name}: mounted {sorted(got)}; versions {sorted(result.versions.values())}")
    assert got == want


@pytest.mark.parametrize("example", EXAMPLE_FILES)
def test_chart_example_mounts_after_its_setup(docs_world: DocsWorld, start_chart_provider, target: Path, say,
                                              example: str) -> None:
    path = EXAMPLES / example
    docs = manifests(path)
    spc, pod, sa = _one(docs, "SecretProviderClass"), _one(docs, "Pod"), _one(docs, "ServiceAccount")
    assert spc and pod and sa, f"{example}: a ServiceAccount, a SecretProviderClass and a Pod"
    bucket, region = _bucket_region(spc)
    if example == WALKTHROUGH_EXAMPLE:
        seeded = walkthrough(docs_world)
        assert all(c.startswith("kubectl ") for c in setup_commands(path)), \
            "the walkthrough example is set up by docs/install.md §4"
        docs_world.run_commands(setup_commands(path), docs_world.placeholders(region, bucket), seeded, {})
    else:
        docs_world.ensure_region(region, bucket)
        seeded = Seeded()
        p = docs_world.placeholders(region, bucket, sa["metadata"]["namespace"], sa["metadata"]["name"])
        cmds = setup_commands(path)
        assert cmds, f"{example} has no # Setup commands"
        docs_world.run_commands(cmds, p, seeded, docs_world.endpoint.env(*docs_world.admin[:2]), spc)
    extra: list[str] = []
    node_creds = None
    head = path.read_text().split("apiVersion", 1)[0]
    if re.search(r"identity\.allowNodeIdentity=true", head):
        extra.append("--allow-node-identity")
        m = re.search(r"identity\.nodeIdentityNamespaces=\{([^}]*)\}", head)
        if m:
            extra += ["--node-identity-namespaces", m.group(1)]
        node_creds = docs_world.role_session("kube-system-keywarden-secrets")
    mount_example(docs_world, start_chart_provider, target, docs, seeded, say, pod, sa, extra, node_creds)


@pytest.mark.parametrize("doc", ["README.md", "docs/install.md"])
def test_doc_manifest_mounts_after_the_walkthrough(docs_world: DocsWorld, start_chart_provider, target: Path, say,
                                                   doc: str) -> None:
    """The SecretProviderClass of the README and of install.md §4.3, with the walkthrough's
    objects and role, in the pod of the walkthrough's example (the README's `objectVersion` is a
    placeholder for a VersionId of that object, so the current one is used)."""
    seeded = walkthrough(docs_world)
    docs = manifests(REPO / doc)
    spc = _one(docs, "SecretProviderClass")
    assert spc is not None and spc["spec"]["parameters"].get("identity", "irsa") == "irsa"
    example = manifests(EXAMPLES / WALKTHROUGH_EXAMPLE)
    pod, sa = _one(example, "Pod"), _one(example, "ServiceAccount")
    assert pod and sa and spc["metadata"]["name"] == _one(example, "SecretProviderClass")["metadata"]["name"]
    objects = spc["spec"]["parameters"]["objects"]
    s3 = docs_world.client("s3", chart_region())
    for name in re.findall(r"objectName: s3://(\S+)\n\s+objectVersion: \S+", objects):
        bucket, key = name.split("/", 1)
        current = s3.head_object(Bucket=bucket, Key=key)["VersionId"]
        objects = re.sub(rf"(objectName: s3://{re.escape(name)}\n\s+objectVersion: )\S+", rf"\g<1>{current}", objects)
    spc["spec"]["parameters"]["objects"] = objects
    mount_example(docs_world, start_chart_provider, target, [spc], seeded, say, pod, sa, [])


def test_unquoted_file_permission_is_octal(docs_world: DocsWorld, start_chart_provider, target: Path, say) -> None:
    """README: an unquoted `filePermission: 0400` is the same as `"0400"` (mode 0400, not 400 or 256)."""
    seeded = walkthrough(docs_world)
    spc = _one(manifests(README), "SecretProviderClass")
    objects = spc["spec"]["parameters"]["objects"]
    assert 'filePermission: "0400"' in objects
    quoted = json.loads(json.dumps(spc))
    quoted["spec"]["parameters"]["objects"] = re.sub(r"\n\s+objectVersion: \S+", "", objects)
    spc["spec"]["parameters"]["objects"] = quoted["spec"]["parameters"]["objects"].replace(
        'filePermission: "0400"', "filePermission: 0400")
    example = manifests(EXAMPLES / WALKTHROUGH_EXAMPLE)
    mount_example(docs_world, start_chart_provider, target, [spc], seeded, say, _one(example, "Pod"),
                  _one(example, "ServiceAccount"), [], expect_from=quoted)


@pytest.mark.parametrize("policy", ["read.json", "read-sealed.json"])
def test_a_missing_statement_fails(docs_world: DocsWorld, start_chart_provider, target: Path, say, policy: str) -> None:
    """Control: the same Mount with any one statement of the documented policy left out is refused,
    so the example tests above would notice a statement the docs forgot."""
    example = {"read.json": WALKTHROUGH_EXAMPLE, "read-sealed.json": "sealed.yaml"}[policy]
    docs = manifests(EXAMPLES / example)
    spc, pod, sa = _one(docs, "SecretProviderClass"), _one(docs, "Pod"), _one(docs, "ServiceAccount")
    if example == WALKTHROUGH_EXAMPLE:
        walkthrough(docs_world)
    bucket, region = _bucket_region(spc)
    ns, sa_name = sa["metadata"]["namespace"], sa["metadata"]["name"]
    p = docs_world.placeholders(region, bucket, ns, sa_name)
    full = json.loads(p.apply(docs_world.policies[policy]))
    trust = p.apply(docs_world.policies["trust.json"])
    iam = docs_world.client("iam", "us-east-1")
    s3 = docs_world.client("s3", region)
    objects = __import__("yaml").safe_load(spc["spec"]["parameters"]["objects"])
    assert all(_exists(s3, o["objectName"]) for o in objects), (
        f"{example}'s objects are uploaded by its own setup in "
        "test_chart_example_mounts_after_its_setup, earlier in this module: run the module whole"
    )
    for i, stmt in enumerate(full["Statement"]):
        role = f"docs-control-{uuid.uuid4().hex[:8]}"
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
        reduced = dict(full, Statement=[s for j, s in enumerate(full["Statement"]) if j != i])
        iam.put_role_policy(RoleName=role, PolicyName="reduced", PolicyDocument=json.dumps(reduced))
        params = dict(spc["spec"]["parameters"], roleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}")
        kube = FakeKubeApi()
        kube.start()
        try:
            provider = start_chart_provider(kube, [], docs_world.admin)
            pod_ = Pod(name=pod["metadata"]["name"], namespace=ns, uid=str(uuid.uuid4()), service_account=sa_name)
            attr, _ = tokens_for(pod_, docs_world.agent)
            with Driver(provider.socket_path) as d:
                with pytest.raises(MountFailed) as failed:
                    d.mount(params, target, pod=pod_, spc_name=spc["metadata"]["name"], tokens=attr)
        finally:
            kube.stop()
        say(f"{policy} without statement {i} ({stmt['Action']}): {failed.value.code.name}: {failed.value.details}")
        assert failed.value.code.name == "PERMISSION_DENIED"


def _exists(s3: Any, uri: str) -> bool:
    bucket, key = uri[len("s3://"):].split("/", 1)
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except Exception:
        return False
