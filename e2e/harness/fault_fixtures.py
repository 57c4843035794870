"""Fixtures of the fault and lifecycle tests (imported by e2e/test_faults.py and friends).

A fault proxy (harness/fault_proxy.py) per test in front of a local AWS
endpoint, always taken down at teardown (which also releases requests it is
holding), and providers whose only way to AWS is that proxy. The providers
are started and checked like every other (conftest.py `start_provider`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .aws import MotoEndpoint
from .fault_proxy import FaultProxy
from .provider import ProviderProcess


@pytest.fixture
def proxy_to() -> Iterator[Callable[[MotoEndpoint], FaultProxy]]:
    """proxy_to(endpoint) -> a listening FaultProxy in front of it, passing everything through."""
    proxies: list[FaultProxy] = []

    def _proxy(endpoint: MotoEndpoint) -> FaultProxy:
        proxy = FaultProxy(endpoint).start()
        proxies.append(proxy)
        return proxy

    try:
        yield _proxy
    finally:
        for proxy in proxies:
            proxy.stop()


@pytest.fixture
def proxy(aws: MotoEndpoint, proxy_to: Callable[[MotoEndpoint], FaultProxy]) -> FaultProxy:
    """A fault proxy in front of the session's AWS endpoint."""
    return proxy_to(aws)


@pytest.fixture
def start_proxied(start_provider: Callable[..., ProviderProcess], proxy: FaultProxy) -> Callable[..., ProviderProcess]:
    """start_proxied(extra_args=[...]) -> a ready provider whose AWS endpoint is `proxy`."""

    def _start(extra_args: list[str] | None = None, **kw: Any) -> ProviderProcess:
        return start_provider(extra_args, aws_env=proxy.env(), **kw)

    return _start


__all__ = ["proxy_to", "proxy", "start_proxied"]
