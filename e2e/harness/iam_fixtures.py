"""Fixtures of the IAM-enforced identity, rotation and caching tests (a pytest plugin, see conftest.py).

Session-wide: one IAM-enforcing moto in its own process and the two-tenant
world (harness/iam.py). Per test: a fake Kubernetes API holding the tenants'
ServiceAccounts, a fake EKS Pod Identity agent, and providers pointed at all
three, with the admin keys as the node's own credentials (so any silent
fallback to node identity would show as a read that IAM should have refused).
Every provider started here is stopped at teardown; a provider that does not
exit 0 on SIGTERM or leaves its socket behind fails the test (harness/fixtures.py).
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .driver import Pod
from .fixtures import launcher
from .iam import IamEndpoint, TenantWorld
from .kube_api import FakeKubeApi
from .pod_identity import FakePodIdentityAgent, down_url
from .provider import ProviderProcess
from .tokens import POD_IDENTITY_AUDIENCE, pod_tokens


@pytest.fixture(scope="session")
def iam_aws() -> Iterator[IamEndpoint]:
    endpoint = IamEndpoint().start()
    try:
        yield endpoint
    finally:
        endpoint.stop()
        shutil.rmtree(endpoint.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def tenants(iam_aws: IamEndpoint) -> TenantWorld:
    return TenantWorld.create(iam_aws)


@pytest.fixture
def kube_api(tenants: TenantWorld) -> Iterator[FakeKubeApi]:
    """ServiceAccounts: <tenant>/app annotated with the tenant's role; tenant-a/plain without annotation."""
    api = FakeKubeApi()
    for t in tenants.tenants.values():
        api.add(t.name, "app", t.role_arn)
    api.add("tenant-a", "plain")
    api.start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def pod_agent(tenants: TenantWorld) -> Iterator[FakePodIdentityAgent]:
    """Associations <tenant>/app -> the tenant's role."""
    agent = FakePodIdentityAgent(tenants.role_credentials)
    for name in tenants.tenants:
        agent.associate(name, "app", name)
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture
def start_iam_provider(
    tenants: TenantWorld, kube_api: FakeKubeApi, pod_agent: FakePodIdentityAgent
) -> Iterator[Callable[..., ProviderProcess]]:
    """start_iam_provider(extra_args=[...], node_identity=False, env={...}) -> a ready provider,
    stopped (and checked) at teardown (harness/fixtures.py).

    Environment: the IAM endpoint, the admin keys as node credentials,
    KEYWARDEN_KUBERNETES_API = the fake API, KEYWARDEN_POD_IDENTITY_ENDPOINTS =
    a loopback address where nothing listens, then the fake agent. The
    function's `agent` and `kube` attributes are those fakes.
    """

    def make(workdir: Path, extra_args: list[str] | None = None, node_identity: bool = False,
             env: dict[str, str] | None = None) -> ProviderProcess:
        aws_env = tenants.node_env()
        aws_env["KEYWARDEN_KUBERNETES_API"] = kube_api.url
        aws_env["KEYWARDEN_POD_IDENTITY_ENDPOINTS"] = f"{down_url()},{pod_agent.url}"
        aws_env.update(env or {})
        return ProviderProcess(workdir=workdir, aws_env=aws_env, extra_args=list(extra_args or []),
                               node_identity=node_identity)

    with launcher("kw-iamp-", make) as start:
        start.agent = pod_agent  # type: ignore[attr-defined]
        start.kube = kube_api  # type: ignore[attr-defined]
        yield start


def tenant_pod(tenant: str, name: str | None = None, service_account: str = "app") -> Pod:
    """A pod of `tenant` (namespace = tenant name), ServiceAccount `app` unless told."""
    return Pod(name=name or f"web-{uuid.uuid4().hex[:6]}", namespace=tenant,
               uid=str(uuid.uuid4()), service_account=service_account)


def tokens_for(pod: Pod, agent: FakePodIdentityAgent | None = None, **kw: object) -> tuple[str, dict[str, str]]:
    """The pod's serviceAccount.tokens attribute (both audiences); the agent learns its Pod Identity token."""
    attr, raw = pod_tokens(pod, **kw)  # type: ignore[arg-type]
    if agent is not None and POD_IDENTITY_AUDIENCE in raw:
        agent.accept(raw[POD_IDENTITY_AUDIENCE])
    return attr, raw


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def metric_samples(text: str, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """{frozenset(labels): value} of one metric family in Prometheus text."""
    out: dict[frozenset[tuple[str, str]], float] = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line.strip())
        if not m or m.group(1) != name:
            continue
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[labels] = float(m.group(3))
    return out


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (0 when none)."""
    want = set(labels.items())
    return sum(v for k, v in metric_samples(text, name).items() if want <= k)
