"""Process lifecycle: shutdown, crash and restart, and two instances on one socket (docs/reference.md §2.2, §6).

SIGTERM lets the Mounts in flight finish (their S3 answers are held by the
fault proxy so they really are in flight), closes the listener at once (a new
connection is refused), exits 0 and removes the socket; when a Mount outlasts --shutdown-grace the process still
exits 0 at the end of the grace (the drain is bounded, not a failure: the
abandoned Mount's connection is closed, which the driver retries) with the
socket removed and a warning in the log. After SIGKILL the socket file stays
behind and a restart on the same path replaces it; a second instance on a
path a live process serves exits 1 naming the socket (the provider after
waiting --socket-wait for it), and the first one keeps serving. The last two
hold for both binaries.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import mounts
from harness.aws import Seeder
from harness.checks import assert_empty, wait_until
from harness.driver import Driver, MountFailed, MountResult
from harness.fault_fixtures import proxy, proxy_to, start_proxied  # noqa: F401
from harness.fault_proxy import Fault, FaultProxy
from harness.kms_fixtures import Client, client_for, key, kms_aws, kms_seed, start_plugin  # noqa: F401
from harness.process import ServerProcess
from harness.provider import ProviderProcess
from harness.spc import parameters

IN_FLIGHT = "keywarden_provider_mounts_in_flight"


def mount_in_own_connection(socket_path: Path, params: dict[str, str], target: Path, timeout: float = 30.0) -> MountResult:
    """One Mount on a connection of its own, as separate driver calls would make."""
    with Driver(socket_path, timeout=timeout) as driver:
        return driver.mount(params, target)


def wait_draining(process: ServerProcess) -> None:
    """Until /readyz stops answering 200: the process has seen the signal and stopped taking work."""
    wait_until(lambda: process.http_get("/readyz", timeout=1.0)[0] != 200, 5, f"{process.name} left readiness")


def test_sigterm_lets_in_flight_mounts_finish(start_proxied, proxy: FaultProxy, seed: Seeder, bucket: str, say) -> None:
    count, grace, hold = 10, 10.0, 3.0
    provider = start_proxied(["--shutdown-grace", f"{grace:g}s"])
    values = {}
    for i in range(count):
        values[i] = f"in-flight-{i}-{uuid.uuid4().hex}".encode()
        seed.put(bucket, f"obj-{i}", values[i])
    proxy.inject(Fault("delay", seconds=hold, service="s3"))
    say(f"{count} Mounts started, each S3 answer held {hold:g}s; --shutdown-grace {grace:g}s")
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(count) as pool:
        targets = [stack.enter_context(mounts.target_path()) for _ in range(count)]
        futures = [
            pool.submit(mount_in_own_connection, provider.socket_path,
                        parameters([{"objectName": f"s3://{bucket}/obj-{i}"}]), targets[i])
            for i in range(count)
        ]
        # In flight, seen from outside: every Mount's S3 request is being held at the proxy.
        wait_until(lambda: proxy.count("s3", "GetObject", "delay") == count, 10, f"{count} Mounts' S3 requests held")
        assert provider.metric(IN_FLIGHT) == count, f"{IN_FLIGHT} must count the {count} Mounts in flight"
        provider.signal(signal.SIGTERM)
        sent = time.monotonic()
        say(f"SIGTERM with {count} Mounts in flight ({IN_FLIGHT} = {count})")
        wait_draining(provider)
        with socket.socket(socket.AF_UNIX) as late, pytest.raises(OSError) as refused:
            late.connect(str(provider.socket_path))
        draining = sum(not f.done() for f in futures)
        say(f"a new connection after SIGTERM, {draining} Mounts still running: {refused.value}")
        assert isinstance(refused.value, ConnectionRefusedError | FileNotFoundError)
        assert draining == count, "refused while the in-flight Mounts were still running"
        results = [f.result(timeout=grace + 5) for f in futures]
        for i, result in enumerate(results):
            assert result.files[f"obj-{i}"].contents == values[i], f"Mount {i} returned the wrong content"
        code = provider.wait_exit(grace + 3)
        elapsed = time.monotonic() - sent
    say(f"all {count} Mounts completed with their files; exit {code} {elapsed:.2f}s after SIGTERM")
    assert code == 0
    assert elapsed < grace, "the drain ended when the last Mount did, not at the end of the grace"
    assert not os.path.lexists(provider.socket_path), "socket removed"
    say("held: in-flight Mounts completed, new connections were not served, exit 0, socket removed")


def test_sigterm_past_the_grace_still_exits(start_proxied, proxy: FaultProxy, seed: Seeder, bucket: str,
                                            target, say) -> None:
    grace = 1.0
    provider = start_proxied(["--shutdown-grace", f"{grace:g}s"])
    seed.put(bucket, "slow", b"never delivered")
    proxy.inject(Fault("delay", seconds=30, service="s3"))
    with ThreadPoolExecutor(1) as pool:
        mounting = pool.submit(mount_in_own_connection, provider.socket_path,
                               parameters([{"objectName": f"s3://{bucket}/slow"}]), target, 4.0)
        wait_until(lambda: proxy.count("s3", "GetObject", "delay") == 1, 10, "the Mount's S3 request held")
        provider.signal(signal.SIGTERM)
        sent = time.monotonic()
        say(f"SIGTERM with one Mount whose S3 answer is held 30s; --shutdown-grace {grace:g}s")
        code = provider.wait_exit(grace + 5)
        elapsed = time.monotonic() - sent
        say(f"exit {code} {elapsed:.2f}s after SIGTERM")
        with pytest.raises(MountFailed) as failed:
            mounting.result(timeout=10)
    say(f"the abandoned Mount: {failed.value}")
    assert code == 0, "a bounded drain is a clean shutdown"
    assert grace - 0.1 <= elapsed < grace + 3, f"exit at the end of the grace, not after {elapsed:.2f}s"
    assert not os.path.lexists(provider.socket_path), "socket removed"
    assert "did not finish within the grace period" in provider.log_text()
    assert_empty(target)
    say("held: exit 0 at the end of the grace, socket removed, the warning logged, no files")


@dataclasses.dataclass
class Server:
    """A running server of either binary and one real call over its socket."""

    process: ServerProcess
    call: Callable[[], str]  # succeeds only if the socket serves; returns what it saw


@pytest.fixture(params=["provider", "keywarden-kms"])
def server(request: pytest.FixtureRequest, start_provider, seed: Seeder, bucket: str, target) -> Server:
    if request.param == "provider":
        provider: ProviderProcess = start_provider()
        value = f"lifecycle-{uuid.uuid4().hex}".encode()
        seed.put(bucket, "lifecycle", value)

        def mount() -> str:
            with Driver(provider.socket_path) as driver:
                result = driver.mount(parameters([{"objectName": f"s3://{bucket}/lifecycle"}]), target)
            assert result.files["lifecycle"].contents == value
            mounts.clear(target)
            return "Mount OK"

        return Server(provider, mount)
    plugin = request.getfixturevalue("start_plugin")(request.getfixturevalue("key")["Arn"])
    client_for = request.getfixturevalue("client_for")

    def round_trip() -> str:
        plugin.wait_healthy()  # the key is resolved; until then calls are UNAVAILABLE (retried by the apiserver)
        client: Client = client_for(plugin)  # a new connection, as an apiserver starting up makes
        sealed = client.encrypt(b"lifecycle seed")
        assert client.decrypt(sealed.ciphertext, sealed.key_id, dict(sealed.annotations)) == b"lifecycle seed"
        return f"Status {client.status().version}, Encrypt/Decrypt OK"

    return Server(plugin, round_trip)


def test_restart_after_sigkill_replaces_the_stale_socket(server: Server, say) -> None:
    proc = server.process
    say(f"{proc.name} serving: {server.call()}")
    proc.kill()
    assert os.path.lexists(proc.socket_path)
    say(f"SIGKILL (exit {proc.returncode}) left {proc.socket_path.name} behind")
    proc.start()
    answer = server.call()
    say(f"restarted on the same path: {answer}")
    assert "removing stale socket" in proc.log_text()
    say("held: the stale socket was replaced and the new process serves")


def test_second_instance_on_the_socket_refuses(server: Server, tmp_path: Path, say) -> None:
    first = server.process
    before = os.stat(first.socket_path)
    second = dataclasses.replace(first, workdir=tmp_path / "second", socket=first.socket_path)
    if first.name == "provider":
        # The provider waits for a live predecessor (a rolling update) up to --socket-wait, then
        # gives up the same way; test_sync_controller.py covers the wait itself.
        second.extra_args = [*first.extra_args, "--socket-wait", "1s"]
    say(f"second {first.name} started on {first.socket_path} while the first serves")
    try:
        with pytest.raises(first.error):
            second.start()
    finally:
        second.kill()
    lines = [line for line in second.log_text().splitlines() if line.startswith(f"{first.executable().name}:")]
    say(f"second instance: exit {second.returncode}, {lines}")
    assert second.returncode == 1, "refused with exit 1, not killed after a timeout"
    assert lines and str(first.socket_path) in lines[-1] and "in use" in lines[-1], "a clear one-line reason"
    after = os.stat(first.socket_path)
    assert (after.st_ino, after.st_ctime_ns) == (before.st_ino, before.st_ctime_ns), "the first's socket untouched"
    say(f"first instance: {server.call()}")
    say("held: the second exited 1 naming the socket; the first kept its socket and serves")
