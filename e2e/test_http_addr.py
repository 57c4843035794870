"""The HTTP listener on the chart's default host `::` (charts/keywarden values `http.host`).

`--http-addr [::]:PORT` must be one dual-stack socket: the provider answers `/readyz` on
127.0.0.1 and on [::1] (the same port), as kubelet's probes reach the pod's IPv4 or IPv6
address on IPv4-only, IPv6-only and dual-stack clusters. The machine must have an IPv6
loopback; without one the test fails and says so (it never skips).
"""

from __future__ import annotations

import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from harness.aws import MotoEndpoint
from harness.fixtures import launcher
from harness.provider import ProviderProcess


class DualStackProvider(ProviderProcess):
    """The harness's provider, listening on the wildcard IPv6 address instead of 127.0.0.1."""

    def argv(self) -> list[str]:
        args = super().argv()
        i = args.index("--http-addr")
        args[i + 1] = f"[::]:{self.http_port}"
        return args


def require_ipv6_loopback() -> None:
    shown = subprocess.run(["ip", "-6", "addr", "show", "dev", "lo"], capture_output=True, text=True)
    has_socket = socket.has_ipv6
    if shown.returncode != 0 or "::1/128" not in shown.stdout or not has_socket:
        pytest.fail(
            "this test needs an IPv6 loopback (::1 on lo): `ip -6 addr show dev lo` printed "
            f"{(shown.stdout + shown.stderr).strip()!r}; enable IPv6 on the test machine "
            "(sysctl net.ipv6.conf.lo.disable_ipv6=0)",
            pytrace=False,
        )


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read().decode()


def test_dual_stack_listener_answers_on_ipv4_and_ipv6_loopback(aws: MotoEndpoint, say) -> None:
    require_ipv6_loopback()

    def make(workdir: Path) -> DualStackProvider:
        return DualStackProvider(workdir=workdir, aws_env=aws.env())

    with launcher("kw-prov-v6-", make) as start:
        provider = start()
        port = provider.http_port
        say(f"provider serving --http-addr [::]:{port}")
        answers = {}
        for host in ("127.0.0.1", "[::1]"):
            status, body = get(f"http://{host}:{port}/readyz")
            answers[host] = status
            say(f"GET http://{host}:{port}/readyz -> {status} {body.strip()!r}")
        assert answers == {"127.0.0.1": 200, "[::1]": 200}
        # One socket serves both: the IPv4 port is taken by it (no second listener).
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
            with pytest.raises(OSError):
                taken.bind(("127.0.0.1", port))
        say("held: one dual-stack socket answers /readyz on 127.0.0.1 and [::1]")
