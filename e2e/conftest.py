"""Fixtures shared by the end-to-end tests.

Session-wide: one local AWS endpoint (moto on loopback, with KMS key states
enforced: harness/key_states.py) and a KMS key. Per test: a fresh bucket, a
tmpfs target path, and provider processes that are always stopped at
teardown, where a clean exit and a removed socket are asserted (`write_mode`
and the `mode_*` fixtures run a test once per write mode). `say` prints what a
test tried and what held.
"""
from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness import mounts
from harness.aws import MotoEndpoint, Seeder
from harness.driver import LOCALHOST, Driver
from harness.fixtures import launcher, serving
from harness.key_states import KeyStateEndpoint
from harness.provider import ProviderProcess

_bucket_seq = itertools.count(1)


@pytest.fixture(scope="session")
def aws() -> Iterator[KeyStateEndpoint]:
    with serving(KeyStateEndpoint(), "aws") as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def seed(aws: MotoEndpoint) -> Seeder:
    return Seeder(aws)


@pytest.fixture(scope="session")
def kms_key(seed: Seeder) -> dict:
    return seed.kms_key("keywarden e2e SSE-KMS key")


@pytest.fixture
def bucket(seed: Seeder) -> str:
    """A new versioned bucket for this test only."""
    return seed.bucket(f"kw-e2e-{next(_bucket_seq)}-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def unversioned_bucket(seed: Seeder) -> str:
    return seed.bucket(f"kw-e2e-plain-{next(_bucket_seq)}-{uuid.uuid4().hex[:8]}", versioned=False)


@pytest.fixture
def target() -> Iterator[Path]:
    """An empty target path, tmpfs-mounted when allowed."""
    with mounts.target_path() as path:
        yield path


@pytest.fixture
def say(request: pytest.FixtureRequest) -> Callable[[str], None]:
    name = request.node.name

    def _say(message: str) -> None:
        print(f"\n    [{name}] {message}")

    return _say


@pytest.fixture
def start_provider(aws: MotoEndpoint) -> Iterator[Callable[..., ProviderProcess]]:
    """start_provider(extra_args=[...], node_identity=True, aws_env=None, revalidate_window="0") -> a ready
    ProviderProcess (on `aws`, or on the endpoint `aws_env` names), stopped (and checked) at
    teardown (harness/fixtures.py)."""

    def make(
        workdir: Path,
        extra_args: list[str] | None = None,
        node_identity: bool = True,
        aws_env: dict[str, str] | None = None,
        revalidate_window: str | None = "0",
    ) -> ProviderProcess:
        return ProviderProcess(
            workdir=workdir,
            aws_env=aws_env or aws.env(),
            extra_args=list(extra_args or []),
            node_identity=node_identity,
            revalidate_window=revalidate_window,
        )

    with launcher("kw-prov-", make) as start:
        yield start


@pytest.fixture
def provider(start_provider: Callable[..., ProviderProcess]) -> ProviderProcess:
    """A provider with the default flags (node identity allowed)."""
    return start_provider()


@pytest.fixture
def driver(provider: ProviderProcess) -> Iterator[Driver]:
    with Driver(provider.socket_path, authority=LOCALHOST) as d:
        yield d


WRITE_MODES = ["driver", "provider"]


@pytest.fixture(params=WRITE_MODES)
def write_mode(request: pytest.FixtureRequest) -> str:
    """Each test using it runs once per `--write-mode` (docs/reference.md §2.6)."""
    return request.param


@pytest.fixture(params=WRITE_MODES[1:])
def provider_mode(start_provider: Callable[..., ProviderProcess]) -> Callable[..., Driver]:
    """provider_mode(*extra_args) -> a Driver (use it with `with`) of a new provider started
    with `--write-mode provider` and the extra arguments."""

    def _driver(*extra: str) -> Driver:
        return Driver(start_provider(["--write-mode", "provider", *extra]).socket_path, authority=LOCALHOST)

    return _driver


@pytest.fixture
def mode_provider(start_provider: Callable[..., ProviderProcess], write_mode: str) -> ProviderProcess:
    """A provider started with `--write-mode <write_mode>` (node identity allowed)."""
    return start_provider(["--write-mode", write_mode])


@pytest.fixture
def mode_driver(mode_provider: ProviderProcess) -> Iterator[Driver]:
    """A driver-like client of `mode_provider`. In provider mode the response carries no
    files, so applying it writes nothing (as in the real driver) and the files read back
    are the ones the provider wrote into the target path."""
    with Driver(mode_provider.socket_path, authority=LOCALHOST) as d:
        yield d
