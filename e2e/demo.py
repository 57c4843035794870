"""`make demo`: Keywarden end to end on one machine, no cluster, no cloud.

Starts a local AWS endpoint (moto) on loopback, seeds a bucket, a KMS key and
secret objects (one sealed with `keywarden-provider seal`, bound to the pod's
namespace), starts keywarden-provider on a unix socket in a temp dir,
performs a real Mount exactly as the Secrets Store CSI driver would into a
tmpfs, and prints the resulting file tree and contents, including a field
extracted from the sealed JSON with jmesPath. Everything it started
or created is removed on exit, on failure and on Ctrl-C.

What the pod sees is checked before it is shown: every file is read back from
the target path as a pod would (through the `..data` symlinks) and must hold
exactly the bytes that were seeded into S3 (for the jmesPath file, the field
of the seeded JSON) with the requested mode, and nothing else may be there. A
mismatch fails the demo (exit 1). `make test` runs `make demo` as a smoke test
(e2e/test_demo.py), so this first command is proven on every change.

Each step is a function taking the shared Demo state, so further steps (the
KMS plugin's Encrypt/Decrypt round trip into a real etcd) slot into STEPS.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import commands, mounts, sealer, writer  # noqa: E402
from harness.apiserver import ApiServer  # noqa: E402
from harness.aws import MotoEndpoint, Seeder  # noqa: E402
from harness.driver import Driver, Pod  # noqa: E402
from harness.etcd import EtcdProcess  # noqa: E402
from harness.kms_plugin import KmsPluginProcess  # noqa: E402
from harness.provider import ProviderProcess  # noqa: E402
from harness.spc import objects_yaml, parameters  # noqa: E402

BUCKET = "keywarden-demo"
NAMESPACE = "default"
# S3 key -> (file the pod gets, contents seeded, mode); prod/api/token is stored with SSE-KMS.
PLAIN_SECRETS: dict[str, tuple[str, bytes, int]] = {
    "prod/db/password": ("db/password", b"correct-horse-battery-staple\n", 0o400),
    "prod/db/username": ("db/username", b"app_rw\n", 0o644),
    "prod/api/token": ("token", b"tok_live_5f3a9c0e\n", 0o644),
}
SEALED_KEY = "prod/payments/credentials.kws"
SEALED_JSON = {"username": "payments", "password": "Tr0ub4dor&3-sealed", "port": 5432}
# The sealed object whole, and its "password" field through jmesPath (both 0400).
SEALED_FILES = {"payments/credentials.json": 0o400, "payments/password": 0o400}


def expected_files() -> dict[str, tuple[bytes, int]]:
    """What the pod must see: path -> (contents, mode), from what was seeded, not from a Mount."""
    files = {alias: (contents, mode) for alias, contents, mode in PLAIN_SECRETS.values()}
    files["payments/credentials.json"] = (sealed_plaintext(), SEALED_FILES["payments/credentials.json"])
    files["payments/password"] = (SEALED_JSON["password"].encode(), SEALED_FILES["payments/password"])
    return files


def sealed_plaintext() -> bytes:
    return json.dumps(SEALED_JSON).encode()


@dataclass
class Demo:
    stack: contextlib.ExitStack
    workdir: Path
    aws: MotoEndpoint | None = None
    seed: Seeder | None = None
    kms_key: dict[str, Any] = field(default_factory=dict)
    objects: list[dict[str, Any]] = field(default_factory=list)
    provider: ProviderProcess | None = None
    kms_plugin: KmsPluginProcess | None = None
    target: Path | None = None


def heading(text: str) -> None:
    print(f"\n== {text}")


def start_aws(demo: Demo) -> None:
    heading("Local AWS endpoint")
    aws = MotoEndpoint()
    aws.start()
    demo.stack.callback(aws.stop)
    demo.aws = aws
    demo.seed = Seeder(aws)
    print(f"moto serves S3, KMS and STS on {aws.url} (region us-east-1, dummy credentials)")


def seed_secrets(demo: Demo) -> None:
    heading("Seeding a bucket, a KMS key and secrets")
    assert demo.seed is not None
    seed = demo.seed
    seed.bucket(BUCKET, versioned=True)
    demo.kms_key = seed.kms_key("keywarden demo key")
    seed.put(BUCKET, "prod/db/password", PLAIN_SECRETS["prod/db/password"][1])
    seed.put(BUCKET, "prod/db/username", PLAIN_SECRETS["prod/db/username"][1])
    seed.put_sse_kms(BUCKET, "prod/api/token", PLAIN_SECRETS["prod/api/token"][1], demo.kms_key["KeyId"])
    print(f"bucket s3://{BUCKET} (versioned), KMS key {demo.kms_key['Arn']}")
    print("objects: prod/db/password, prod/db/username, prod/api/token (SSE-KMS)")
    demo.objects = [
        {"objectName": f"s3://{BUCKET}/prod/db/password", "objectAlias": "db/password", "filePermission": "0400"},
        {"objectName": f"s3://{BUCKET}/prod/db/username", "objectAlias": "db/username"},
        {"objectName": f"s3://{BUCKET}/prod/api/token"},
    ]
    seal_secret(demo)


def seal_secret(demo: Demo) -> None:
    """A JSON secret sealed with `keywarden-provider seal`; the pod gets it whole and one field."""
    heading("Sealing a secret with keywarden-provider seal")
    assert demo.aws is not None and demo.seed is not None
    out = f"s3://{BUCKET}/{SEALED_KEY}"
    plaintext = sealed_plaintext()
    run = commands.seal(
        demo.aws.env(), demo.kms_key["Arn"], out, plaintext=plaintext, namespace=NAMESPACE, context={"app": "web"}
    )
    if run.returncode != 0:
        raise RuntimeError(run.describe())
    print(f"$ keywarden-provider seal --key <key ARN> --namespace {NAMESPACE} --context app=web --in - --out {out}")
    print(f"    {run.stdout.strip()}")
    blob = demo.seed.s3.get_object(Bucket=BUCKET, Key=SEALED_KEY)["Body"].read()
    assert plaintext not in blob and b"Tr0ub4dor" not in blob
    header = dict(sealer.parse(blob).header)
    header["edk"] = header["edk"][:24] + "..."
    print(f"what S3 holds ({len(blob)} bytes): KWS1, header {json.dumps(header)}, then AES-256-GCM ciphertext")
    demo.objects.append(
        {
            "objectName": out,
            "objectType": "sealed",
            "objectAlias": "payments/credentials.json",
            "filePermission": "0400",
            "jmesPath": [{"path": "password", "objectAlias": "payments/password", "filePermission": "0400"}],
        }
    )


def start_provider(demo: Demo) -> None:
    heading("keywarden-provider")
    assert demo.aws is not None
    provider = ProviderProcess(workdir=demo.workdir / "provider", aws_env=demo.aws.env())
    demo.stack.callback(provider.stop, False)
    provider.start()
    demo.provider = provider
    print(f"serving v1alpha1.CSIDriverProvider on {provider.socket_path}")
    print(f"health and metrics on {provider.http_url} (/healthz /readyz /metrics)")


def mount_as_driver(demo: Demo) -> None:
    heading("Mount, as the Secrets Store CSI driver does it")
    assert demo.provider is not None
    target = demo.stack.enter_context(mounts.target_path(parent=demo.workdir))
    demo.target = target
    kind = "tmpfs" if mounts.is_tmpfs(target) else "plain directory"
    params = parameters(demo.objects, identity="node")
    print(f"target path {target} ({kind})")
    print("SecretProviderClass parameters.objects:")
    print(textwrap.indent(objects_yaml(demo.objects), "    "))
    pod = Pod(name="web-7d4b9", namespace=NAMESPACE, service_account="web")
    with Driver(demo.provider.socket_path) as driver:
        version = driver.version()
        print(f"Version: {version.runtime_name} {version.runtime_version} ({version.version})")
        result = driver.mount(params, target, pod=pod, spc_name="web-secrets")

    check_pod_view(target)
    heading("What the pod sees")
    for line in writer.tree(target):
        print(f"    {line}")
    print()
    for path, f in sorted(result.files.items()):
        print(f"    {path}  mode {f.mode:04o}: {f.contents.decode(errors='replace').rstrip()}")
    print("\nobject versions reported to the driver:")
    for oid, ver in sorted(result.versions.items()):
        print(f"    {oid} @ {ver}")
    print(
        textwrap.dedent(
            """
            What happened: the driver-like client sent one Mount RPC over the unix
            socket with the pod's attributes. keywarden-provider read the four S3
            objects with the node's credentials (S3 decrypted the SSE-KMS one with
            the KMS key). It checked that the sealed object was sealed for the pod's
            namespace, decrypted its data key with one kms:Decrypt, opened it, and
            extracted the password field with jmesPath into its own 0400 file. It
            returned every file with its mode and one version per object. The
            client then wrote them like the driver: a timestamped directory, a
            `..data` symlink swapped in atomically, and top-level symlinks, so an
            application sees whole updates only.
            """
        ).rstrip()
    )


def check_pod_view(target: Path) -> None:
    """Fail unless the target holds exactly the seeded files with their modes, read as a pod would."""
    expected = expected_files()
    visible = []
    for root, dirs, files in os.walk(target, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith("..")]
        visible += [os.path.relpath(os.path.join(root, f), target) for f in files if not f.startswith("..")]
    visible.sort()
    if visible != sorted(expected):
        raise RuntimeError(f"the pod would see {visible}, expected {sorted(expected)}")
    for name, (contents, mode) in expected.items():
        path = target / name
        got, got_mode = path.read_bytes(), path.stat().st_mode & 0o7777
        if (got, got_mode) != (contents, mode):
            raise RuntimeError(f"{name}: {got!r} mode {got_mode:04o}, seeded {contents!r} mode {mode:04o}")


def kms_v2_round_trip(demo: Demo) -> None:
    heading("keywarden-kms: a Secret encrypted at rest in etcd, as kube-apiserver does it")
    assert demo.aws is not None
    etcd = EtcdProcess().start()
    demo.stack.callback(etcd.stop)
    plugin = KmsPluginProcess(workdir=demo.workdir / "kms", aws_env=demo.aws.env(), key=demo.kms_key["Arn"])
    demo.stack.callback(plugin.stop, False)
    demo.kms_plugin = plugin
    plugin.start()
    plugin.wait_healthy()
    print(f"etcd {etcd.url}; keywarden-kms serving v2 and v1beta1 on {plugin.socket_path}")
    path = "/registry/secrets/default/db-credentials"
    secret = b'{"kind":"Secret","metadata":{"name":"db-credentials"},"data":{"password":"correct-horse"}}'
    with ApiServer(etcd, plugin.socket_path) as api:
        status = api.status()
        print(f"Status: version={status.version} healthz={status.healthz} key_id={status.key_id}")
        api.probe()
        assert api.state is not None
        print(f"new 32-byte seed -> plugin Encrypt -> {len(api.state.encrypted)}-byte ciphertext,")
        print(f"    annotations {sorted(api.state.annotations)}")
        api.write(path, secret)
        raw = etcd.get(path) or b""
        print(f"\nwrote {path}; the raw etcd value ({len(raw)} bytes):")
        print(textwrap.indent(textwrap.fill(repr(raw[:160]) + "...", 96), "    "))
        assert b"correct-horse" not in raw
    with ApiServer(etcd, plugin.socket_path) as restarted:
        print("\nread back by a restarted apiserver (cold cache -> plugin Decrypt, served from its cache):")
        print(f"    {restarted.read(path).decode()}")
    hits = plugin.metric("keywarden_kms_decrypt_cache_total", result="hit")
    print(f"plugin decrypt cache hits: {hits:.0f} (the apiserver restart cost no KMS call)")


STEPS: list[Callable[[Demo], None]] = [start_aws, seed_secrets, start_provider, mount_as_driver, kms_v2_round_trip]


def main() -> int:
    def on_term(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    with contextlib.ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="keywarden-demo-"))
        stack.callback(shutil.rmtree, workdir, True)
        demo = Demo(stack=stack, workdir=workdir)
        try:
            for step in STEPS:
                step(demo)
        except KeyboardInterrupt:
            print("\ninterrupted; cleaning up", file=sys.stderr)
            return 130
        except Exception as e:  # show the reason, then clean up
            print(f"\ndemo failed: {e}", file=sys.stderr)
            if demo.provider is not None:
                print("--- provider log ---\n" + demo.provider.log_text(), file=sys.stderr)
            if demo.kms_plugin is not None:
                print("--- keywarden-kms log ---\n" + demo.kms_plugin.log_text(), file=sys.stderr)
            return 1
    print("\nCleaned up: provider, keywarden-kms and etcd stopped, tmpfs unmounted, temp dirs and moto gone.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
