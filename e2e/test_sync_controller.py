"""Kubernetes Secrets without a pod: the Secrets Store sync controller calling Keywarden as the
sidecar of its own pod (docs/reference.md §2.10), under IAM enforcement.

The client (harness/sync_controller.py) sends exactly the controller's request over the unix
socket and applies its rules: files looked up by exact `sourcePath` (the CRD's pattern), at
least one object version, nothing written anywhere. Oracles outside the product: the bytes
boto3 uploaded, the requests the IAM-enforcing endpoint saw (role, session name, token, keys
that signed each read), the file system (no `/mnt/secrets-store`, nothing new beside the
socket), and the processes' exit codes and socket inodes for the rolling update.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import threading
import uuid
from pathlib import Path

import grpc
import pytest
import yaml

from harness.checks import wait_until
from harness.docs import REPO, blocks
from harness.driver import Driver, MountFailed
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
from harness.provider import ProviderProcess
from harness.spc import parameters
from harness.tokens import POD_IDENTITY_AUDIENCE
from harness.sync_controller import (
    CONTROLLER_POD,
    ESCAPED_PATH,
    LOCALHOST,
    TARGET_PATH,
    SecretSync,
    SyncController,
    tokens,
    valid_source_path,
)

SYNC = ["--sync-controller"]
DOC = REPO / "docs/sync-controller.md"


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _synced(log: str) -> list[dict]:
    """The provider's `mount` log lines whose Mount span names the sync controller as caller."""
    out = []
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        spans = [s for s in entry.get("spans", []) if s.get("name") == "mount"]
        if entry.get("message") == "mount" and spans and spans[0].get("caller") == "sync-controller":
            out.append(entry)
    return out


def _identity(path: Path) -> tuple[int, int]:
    """Inode and change time: tmpfs reuses a freed inode number at once."""
    st = os.stat(path)
    return st.st_ino, st.st_ctime_ns


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _seed(tenants: TenantWorld, tenant: str) -> tuple[str, dict[str, bytes]]:
    """An API key object and a JSON credentials document in the tenant's bucket."""
    prefix = f"sync/{uuid.uuid4().hex[:8]}"
    api_key = f"{tenant}-api-key-{uuid.uuid4().hex}".encode()
    creds = {"username": f"{tenant}-user", "password": f"{tenant}-pw-{uuid.uuid4().hex}"}
    tenants.put(tenant, f"{prefix}/api-key", api_key)
    tenants.put(tenant, f"{prefix}/db.json", json.dumps(creds).encode())
    return prefix, {"api-key": api_key, "username": creds["username"].encode(),
                    "password": creds["password"].encode()}


def _secret_sync(tenants: TenantWorld, tenant: str, prefix: str, bucket_of: str | None = None) -> SecretSync:
    bucket = tenants[bucket_of or tenant].bucket
    params = parameters(
        [
            {"objectName": f"s3://{bucket}/{prefix}/api-key", "objectAlias": "api-key"},
            {"objectName": f"s3://{bucket}/{prefix}/db.json", "objectAlias": "db.json",
             "jmesPath": [{"path": "username", "objectAlias": "username"},
                          {"path": "password", "objectAlias": "password"}]},
        ],
        identity="irsa",
        roleArn=tenants[tenant].role_arn,
    )
    data = [("api-key", "API_KEY"), ("username", "DB_USER"), ("password", "DB_PASSWORD")]
    return SecretSync(name="app-secrets", namespace=tenant, service_account="app", spc_parameters=params, data=data)


def _sidecar(start_iam_provider, extra: list[str] | None = None) -> ProviderProcess:
    return start_iam_provider(extra_args=SYNC + list(extra or []), node_identity=False)


@pytest.mark.parametrize("authority", [LOCALHOST, ESCAPED_PATH])
def test_secret_sync_gets_the_namespaces_objects_with_its_service_accounts_role(
    start_iam_provider, tenants: TenantWorld, say, authority: str
) -> None:
    assert not os.path.lexists(TARGET_PATH), f"{TARGET_PATH} exists before the test; cannot prove it stays absent"
    prefix, values = _seed(tenants, "tenant-a")
    provider = _sidecar(start_iam_provider)
    sync = _secret_sync(tenants, "tenant-a", prefix)
    attr, raw = tokens(sync)
    before = _tree(provider.workdir)
    log = tenants.endpoint.requests
    mark = log.mark()
    with SyncController(provider.socket_path, authority=authority) as controller:
        data = controller.sync(sync, attr)
        response = controller.last_response
    reqs = log.since(mark)
    say(f":authority {authority}: Secret keys {sorted(data)}; versions {[v.id for v in response.object_version]}; "
        f"calls {[(r.service, r.operation, r.status) for r in reqs]}")
    assert data == {"API_KEY": values["api-key"], "DB_USER": values["username"], "DB_PASSWORD": values["password"]}
    assert len(response.object_version) == 2 and all(v.version for v in response.object_version)
    assert all(valid_source_path(f.path) for f in response.files), [f.path for f in response.files]

    sts = [r for r in reqs if r.service == "sts"]
    assert [(r.operation, r.status) for r in sts] == [("AssumeRoleWithWebIdentity", 200)] * len(sts) and sts
    assert {r.params["RoleArn"] for r in sts} == {tenants["tenant-a"].role_arn}
    assert {r.params["token_sha256"] for r in sts} == {_sha(raw)}, "the controller's token is the one exchanged"
    sessions = {r.params["RoleSessionName"] for r in sts}
    say(f"STS sessions {sessions}")
    assert sessions == {"keywarden-sync-tenant-a-app"}
    assert not any(CONTROLLER_POD in str(r.params) for r in sts), "the controller's own pod names no session"
    gets = [r for r in reqs if (r.service, r.operation) == ("s3", "GetObject")]
    assert len(gets) == 2 and all(r.status == 200 for r in gets)
    assert all(r.access_key.startswith("ASIA") and r.access_key != tenants.admin_key for r in gets), (
        "S3 is read with the ServiceAccount's role session, not the sidecar's own keys"
    )

    assert not os.path.lexists(TARGET_PATH), f"the provider created {TARGET_PATH}"
    after = _tree(provider.workdir)
    assert after == before, f"files appeared beside the socket: {sorted(after - before)}"
    log_text = provider.log_text()
    assert raw not in log_text and values["password"].decode() not in log_text
    lines = _synced(log_text)
    say(f"log: {len(lines)} mount lines with caller sync-controller; pod field {[entry.get('pod') for entry in lines]}")
    assert lines and all(not entry.get("pod") for entry in lines), "the controller's pod is not logged as the Mount's"


def test_pod_identity_with_the_controllers_one_audience(start_iam_provider, tenants: TenantWorld, say) -> None:
    prefix, values = _seed(tenants, "tenant-a")
    provider = _sidecar(start_iam_provider)
    agent = start_iam_provider.agent
    sync = _secret_sync(tenants, "tenant-a", prefix)
    params = {k: v for k, v in sync.spc_parameters.items() if k != "roleArn"}
    sync = dataclasses.replace(sync, spc_parameters={**params, "identity": "podIdentity"})
    log = tenants.endpoint.requests
    with SyncController(provider.socket_path) as controller:
        # tokenRequestAudience still sts.amazonaws.com: the message names the audience to set.
        sts_attr, _ = tokens(sync)
        with pytest.raises(MountFailed) as failed:
            controller.sync(sync, sts_attr)
        say(f"podIdentity with an sts.amazonaws.com token -> {failed.value.details}")
        assert failed.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert "tokenRequestAudience" in failed.value.details and "pods.eks.amazonaws.com" in failed.value.details

        attr, raw = tokens(sync, audience=POD_IDENTITY_AUDIENCE)
        agent.accept(raw)
        before = len(agent.requests)
        mark = log.mark()
        data = controller.sync(sync, attr)
    reqs = log.since(mark)
    say(f"podIdentity: Secret keys {sorted(data)}; agent requests {len(agent.requests) - before}; "
        f"AWS calls {[(r.service, r.operation, r.status) for r in reqs]}")
    assert data["API_KEY"] == values["api-key"] and data["DB_PASSWORD"] == values["password"]
    assert [r.authorization for r in agent.requests[before:]] == [raw], "the controller's token, presented once"
    gets = [r for r in reqs if (r.service, r.operation) == ("s3", "GetObject")]
    assert gets and all(r.access_key.startswith("ASIA") and r.access_key != tenants.admin_key for r in gets)


def test_another_namespaces_object_is_refused_by_iam(start_iam_provider, tenants: TenantWorld, say) -> None:
    prefix, values = _seed(tenants, "tenant-b")
    provider = _sidecar(start_iam_provider)
    sync = _secret_sync(tenants, "tenant-a", prefix, bucket_of="tenant-b")
    attr, _ = tokens(sync)
    log = tenants.endpoint.requests
    mark = log.mark()
    with SyncController(provider.socket_path) as controller, pytest.raises(MountFailed) as failed:
        controller.sync(sync, attr)
    reqs = log.since(mark)
    say(f"-> {failed.value}; calls {[(r.service, r.operation, r.status) for r in reqs]}")
    assert failed.value.code == grpc.StatusCode.PERMISSION_DENIED
    gets = [r for r in reqs if r.service == "s3"]
    assert gets and all(r.status == 403 for r in gets), "IAM (the endpoint) refused tenant-a's role"
    assert values["api-key"].decode() not in failed.value.details


def test_the_token_must_be_the_named_service_accounts(start_iam_provider, tenants: TenantWorld, say) -> None:
    """The controller names the namespace itself; Keywarden's own namespace rules (here a KMS
    object bound to tenant-b) must not trust a name the token does not prove."""
    secret = f"tenant-b-only-{uuid.uuid4().hex}".encode()
    ctx = {"keywarden.io/namespace": "tenant-b"}
    blob = base64.b64encode(tenants.encrypt(secret, ctx)).decode()
    provider = _sidecar(start_iam_provider)

    def bound_object(role_of: str) -> dict[str, str]:
        return parameters([{"ciphertext": blob, "objectType": "kms", "objectAlias": "value", "encryptionContext": ctx}],
                          identity="irsa", roleArn=tenants[role_of].role_arn)

    # A SecretSync of tenant-b whose token is tenant-a's (a controller that mixed them up).
    claimed = SecretSync(name="s", namespace="tenant-b", service_account="app",
                         spc_parameters=bound_object("tenant-a"), data=[("value", "VALUE")])
    foreign_token, _ = tokens(dataclasses.replace(claimed, namespace="tenant-a"))
    log = tenants.endpoint.requests
    mark = log.mark()
    with SyncController(provider.socket_path) as controller:
        with pytest.raises(MountFailed) as failed:
            controller.sync(claimed, foreign_token)
        say(f"namespace tenant-b, token of tenant-a:app -> {failed.value}")
        assert failed.value.code == grpc.StatusCode.PERMISSION_DENIED
        assert "system:serviceaccount:tenant-a:app" in failed.value.details
        assert log.since(mark) == [], "refused before STS or KMS"
        assert secret.decode() not in failed.value.details

        # Control: tenant-b's own token and role open it.
        own = dataclasses.replace(claimed, spc_parameters=bound_object("tenant-b"))
        own_token, _ = tokens(own)
        assert controller.sync(own, own_token) == {"VALUE": secret}
        kms = [(r.operation, r.status) for r in log.since(mark) if r.service == "kms"]
        say(f"tenant-b's own token: opened; KMS calls {kms}")
        assert kms == [("Decrypt", 200)]


def test_missing_token_names_token_request_audience(start_iam_provider, tenants: TenantWorld, say) -> None:
    prefix, _ = _seed(tenants, "tenant-a")
    provider = _sidecar(start_iam_provider)
    sync = _secret_sync(tenants, "tenant-a", prefix)
    other_audience, _ = tokens(sync, audience="api://not-sts")
    log = tenants.endpoint.requests
    with SyncController(provider.socket_path) as controller:
        for attr in (None, other_audience):
            mark = log.mark()
            with pytest.raises(MountFailed) as failed:
                controller.sync(sync, attr)
            say(f"tokens {'absent' if attr is None else 'for api://not-sts'} -> {failed.value}")
            assert failed.value.code == grpc.StatusCode.FAILED_PRECONDITION
            assert "tokenRequestAudience" in failed.value.details
            assert "sts.amazonaws.com" in failed.value.details
            assert log.since(mark) == [], "no AWS call without the token"


def test_a_driver_request_cannot_ride_on_the_controller_path(
    start_iam_provider, tenants: TenantWorld, target, say
) -> None:
    prefix, _ = _seed(tenants, "tenant-a")
    sidecar = _sidecar(start_iam_provider)
    node = start_iam_provider(node_identity=False)
    sync = _secret_sync(tenants, "tenant-a", prefix)
    attr, _ = tokens(sync)
    pod = tenant_pod("tenant-a")
    pod_attr, _ = tokens_for(pod)
    log = tenants.endpoint.requests
    mark = log.mark()

    # The CSI driver's request (kubelet's target path, secretProviderClass, ephemeral) reaching
    # the sidecar's socket.
    with Driver(sidecar.socket_path) as d, pytest.raises(MountFailed) as failed:
        d.mount(sync.spc_parameters, target, pod=pod, tokens=pod_attr)
    say(f"driver request on the sidecar -> {failed.value}")
    assert failed.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "serves only the Secrets Store sync controller" in failed.value.details
    assert not any(target.iterdir())

    # The controller's shape with a driver-only key added through the class parameters: the
    # driver's, so refused too (fail closed).
    spoofed = dataclasses.replace(sync, spc_parameters={**sync.spc_parameters, "secretProviderClass": "x"})
    with SyncController(sidecar.socket_path) as controller, pytest.raises(MountFailed) as failed:
        controller.sync(spoofed, attr)
    say(f"controller shape + secretProviderClass parameter -> {failed.value.code.name}")
    assert failed.value.code == grpc.StatusCode.FAILED_PRECONDITION

    # The controller's request on a provider that serves the CSI driver.
    with SyncController(node.socket_path) as controller, pytest.raises(MountFailed) as failed:
        controller.sync(sync, attr)
    say(f"controller request on the node's provider -> {failed.value}")
    assert failed.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "--sync-controller" in failed.value.details
    assert log.since(mark) == [], "no AWS call for a refused caller"
    assert not os.path.lexists(TARGET_PATH)

    # Both still serve their own caller.
    with SyncController(sidecar.socket_path) as controller:
        assert set(controller.sync(sync, attr)) == {"API_KEY", "DB_USER", "DB_PASSWORD"}


def _docs_example() -> str:
    [block] = [b.text for b in blocks(DOC) if b.lang == "yaml"]
    return block


def test_the_docs_example_passes_check_and_syncs(start_iam_provider, tenants: TenantWorld, tmp_path, say) -> None:
    """docs/sync-controller.md's SecretProviderClass and SecretSync: `check` accepts the pair
    (and refuses a nested sourcePath), and the SecretSync, moved to tenant-a's bucket, role and
    namespace, syncs through the sidecar with the bytes boto3 stored."""
    text = _docs_example()
    binary = str(ProviderProcess.installed_binary())
    good = tmp_path / "good.yaml"
    good.write_text(text)
    proc = subprocess.run([binary, "check", "--spc", str(good)], capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ.get("PATH", ""), "AWS_EC2_METADATA_DISABLED": "true"})
    say(f"check: exit {proc.returncode}: {proc.stdout.strip().splitlines()[-1]}")
    assert proc.returncode == 0 and "SecretSync team-a/app-secrets: 3 key(s) found among the files" in proc.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("sourcePath: db-password", "sourcePath: db/password"))
    proc = subprocess.run([binary, "check", "--spc", str(bad)], capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ.get("PATH", ""), "AWS_EC2_METADATA_DISABLED": "true"})
    say(f"check, nested sourcePath: exit {proc.returncode}: {proc.stderr.strip()}")
    assert proc.returncode == 1 and 'sourcePath "db/password" is refused' in proc.stderr

    docs = [d for d in yaml.safe_load_all(text) if d]
    spc = next(d for d in docs if d["kind"] == "SecretProviderClass")
    secret_sync = next(d for d in docs if d["kind"] == "SecretSync")
    params = dict(spc["spec"]["parameters"])
    tenant = tenants["tenant-a"]
    objects = params["objects"].replace("s3://acme-secrets/team-a/", f"s3://{tenant.bucket}/docs-{uuid.uuid4().hex[:6]}/")
    keys = [line.split(f"s3://{tenant.bucket}/", 1)[1].strip() for line in objects.splitlines() if "s3://" in line]
    creds = {"username": "app", "password": uuid.uuid4().hex}
    stored = {"api-key": uuid.uuid4().hex.encode(), "db.json": json.dumps(creds).encode()}
    for key in keys:
        tenants.put("tenant-a", key, stored[key.rsplit("/", 1)[1]])
    params.update(objects=objects, roleArn=tenant.role_arn, region="us-east-1")
    sync = SecretSync(name=secret_sync["metadata"]["name"], namespace="tenant-a",
                      service_account=secret_sync["spec"]["serviceAccountName"], spc_parameters=params,
                      data=[(d["sourcePath"], d["targetKey"]) for d in secret_sync["spec"]["secretObject"]["data"]])
    provider = _sidecar(start_iam_provider)
    attr, _ = tokens(sync)
    with SyncController(provider.socket_path) as controller:
        data = controller.sync(sync, attr)
    say(f"the docs' SecretSync in tenant-a: Secret keys {sorted(data)}")
    assert data == {"API_KEY": stored["api-key"], "DB_USERNAME": b"app", "DB_PASSWORD": creds["password"].encode()}


def test_a_rolling_update_waits_for_the_previous_sidecar(
    start_iam_provider, tenants: TenantWorld, tmp_path, say
) -> None:
    prefix, values = _seed(tenants, "tenant-a")
    old = _sidecar(start_iam_provider)
    path = old.socket_path
    old_inode = _identity(path)
    sync = _secret_sync(tenants, "tenant-a", prefix)
    attr, _ = tokens(sync)
    env = {**old.aws_env}
    new = ProviderProcess(tmp_path / "new", env, extra_args=SYNC, node_identity=False, socket=path)
    new.start_timeout = 60.0
    started: list[BaseException] = []

    def start_new() -> None:
        try:
            new.start()
        except BaseException as e:  # noqa: BLE001  (reported below)
            started.append(e)

    starter = threading.Thread(target=start_new, daemon=True)
    starter.start()
    try:
        wait_until(lambda: "waiting for it to stop" in new.log_text() or None, 20, "the new sidecar waits")
        say(f"new sidecar (pid {new.proc.pid}) waits while the old (pid {old.proc.pid}) serves")
        assert new.alive(), "the new sidecar must wait, not exit"
        assert _identity(path) == old_inode, "the old sidecar's socket is left in place"
        with SyncController(path) as controller:
            assert controller.sync(sync, attr)["API_KEY"] == values["api-key"]
        assert not _synced(new.log_text()), "the new sidecar served nothing yet"

        old.signal(signal.SIGTERM)
        code = old.wait_exit(20)
        old.stop(check=False)
        starter.join(timeout=70)
        assert not started, started
        say(f"old sidecar: SIGTERM, exit {code}; new sidecar ready: {new.ready}")
        assert code == 0 and new.ready
        assert _identity(path) != old_inode, "the new sidecar bound its own socket"
        with SyncController(path) as controller:
            assert controller.sync(sync, attr)["DB_PASSWORD"] == values["password"]
        assert _synced(new.log_text()), "the new sidecar served the sync"

        # The wait is bounded: a third instance gives up while the new one serves, and leaves it.
        third = ProviderProcess(tmp_path / "third", env, extra_args=SYNC + ["--socket-wait", "1s"],
                                node_identity=False, socket=path)
        inode = _identity(path)
        with pytest.raises(AssertionError) as gave_up:
            third.start()
        say(f"third instance with --socket-wait 1s: {str(gave_up.value).splitlines()[0]}")
        assert third.proc is not None and third.proc.returncode not in (0, None)
        assert "was still in use by another live process after waiting" in third.log_text()
        assert _identity(path) == inode
        with SyncController(path) as controller:
            assert controller.sync(sync, attr)["DB_USER"] == values["username"]

        # SIGTERM while waiting (the update rolled back): exit 0, the serving socket untouched.
        fourth = ProviderProcess(tmp_path / "fourth", env, extra_args=SYNC, node_identity=False, socket=path)
        with open(fourth.log_path, "ab") as out:
            fourth.proc = subprocess.Popen(fourth.argv(), stdin=subprocess.DEVNULL, stdout=out,
                                           stderr=subprocess.STDOUT, env=fourth.env(), cwd=fourth.workdir)
        try:
            wait_until(lambda: "waiting for it to stop" in fourth.log_text() or None, 20, "the fourth waits")
            fourth.signal(signal.SIGTERM)
            code = fourth.wait_exit(20)
        finally:
            fourth.kill()
        say(f"fourth instance: SIGTERM while waiting -> exit {code}")
        assert code == 0 and _identity(path) == inode
        with SyncController(path) as controller:
            assert controller.sync(sync, attr)["API_KEY"] == values["api-key"]
    finally:
        starter.join(timeout=70)
        new.stop(check=True)
