"""Load for the provider: a world of secret classes, many volumes mounting them, and a watch on
the process.

`SecretWorld` seeds `classes` SecretProviderClasses, each with a plain S3
object, a KMS ciphertext blob in S3, a sealed object in S3 and an inline
ciphertext (the four kinds a Mount fetches), and remembers the plaintext each
file must hold. `rotate` writes a new version of one class's S3 objects.

`Volume` is one pod's volume of one class; `mount_all` mounts many volumes
from a thread pool over one driver connection, checks every returned file
against the world, and counts the outcomes by gRPC code (a wrong file fails
at once: that is corruption, never load).

`ProcessWatch` reads what a leak would move from outside the process: open
descriptors (/proc/<pid>/fd, the suite runs as root) and resident memory, now
and at its peak (VmRSS and VmHWM of /proc/<pid>/status). Live tokio tasks are
invisible from outside, so they come from the provider's `tokio_alive_tasks`.
`check_metrics` holds the provider's own process gauges to the /proc figures
read just before and just after the scrape.
"""

from __future__ import annotations

import base64
import os
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from . import sealer
from .aws import Seeder
from .driver import Driver, MountFailed, Pod
from .provider import ProviderProcess
from .spc import parameters

CONTEXT = {"app": "load"}
KINDS = ("s3", "kms", "sealed", "inline")


@dataclass
class SecretClass:
    """One SecretProviderClass: its object specs and the plaintext of each file."""

    name: str
    objects: list[dict[str, Any]]
    expected: dict[str, bytes]
    keys: dict[str, str]  # S3 key of each S3-backed kind

    def parameters(self) -> dict[str, str]:
        return parameters(self.objects)


@dataclass
class SecretWorld:
    """The seeded classes in one bucket under one KMS key."""

    seed: Seeder
    bucket: str
    key_id: str
    classes: list[SecretClass] = field(default_factory=list)

    def populate(self, count: int) -> SecretWorld:
        for i in range(count):
            self.classes.append(self._new_class(f"class-{i}"))
        return self

    def _stored(self, kind: str, value: bytes) -> bytes:
        if kind == "kms":
            return self.seed.kms.encrypt(KeyId=self.key_id, Plaintext=value, EncryptionContext=CONTEXT)[
                "CiphertextBlob"
            ]
        if kind == "sealed":
            return sealer.seal(self.seed.kms, self.key_id, value, CONTEXT)
        return value

    def _new_class(self, name: str) -> SecretClass:
        objects: list[dict[str, Any]] = []
        expected: dict[str, bytes] = {}
        keys: dict[str, str] = {}
        for kind in KINDS:
            value = f"{name}-{kind}-{uuid.uuid4().hex}".encode()
            alias = f"{kind}-secret"
            expected[alias] = value
            if kind == "inline":
                blob = self._stored("kms", value)
                objects.append({"objectType": "kms", "objectAlias": alias,
                                "ciphertext": base64.b64encode(blob).decode(), "encryptionContext": CONTEXT})
                continue
            key = f"{name}/{kind}"
            keys[kind] = key
            self.seed.put(self.bucket, key, self._stored(kind, value))
            spec: dict[str, Any] = {"objectName": f"s3://{self.bucket}/{key}", "objectAlias": alias}
            if kind != "s3":
                spec.update({"objectType": kind})
            if kind == "kms":
                spec["encryptionContext"] = CONTEXT
            objects.append(spec)
        return SecretClass(name, objects, expected, keys)

    def rotate(self, cls: SecretClass) -> None:
        """A new version of every S3-backed object of `cls`, with new plaintext."""
        for kind, key in cls.keys.items():
            value = f"{cls.name}-{kind}-{uuid.uuid4().hex}".encode()
            self.seed.put(self.bucket, key, self._stored(kind, value))
            cls.expected[f"{kind}-secret"] = value


@dataclass(frozen=True)
class Volume:
    """One pod's volume of one class."""

    pod: Pod
    cls: SecretClass


def volumes(world: SecretWorld, count: int, namespace: str = "load") -> list[Volume]:
    """`count` volumes spread evenly over the world's classes, each in its own pod."""
    return [
        Volume(Pod(name=f"app-{i}", namespace=namespace, uid=str(uuid.uuid4())), world.classes[i % len(world.classes)])
        for i in range(count)
    ]


class WrongContent(AssertionError):
    """A Mount returned a file that does not hold what the world says it must."""


def mount_volume(driver: Driver, volume: Volume) -> None:
    """Mount `volume` (files checked from the response; the driver mode writes nothing)."""
    expected = dict(volume.cls.expected)  # a rotation mid-Mount must not tear the comparison
    response = driver.mount_raw(driver.mount_request(volume.cls.parameters(), f"/load/{volume.pod.uid}",
                                                     pod=volume.pod, spc_name=volume.cls.name))
    got = {f.path: f.contents for f in response.files}
    if got != expected:
        wrong = sorted(p for p in expected.keys() | got.keys() if got.get(p) != expected.get(p))
        raise WrongContent(f"{volume.pod.name} ({volume.cls.name}): wrong or missing files {wrong}")


def mount_all(driver: Driver, vols: list[Volume], workers: int) -> Counter[str]:
    """Mount every volume from `workers` threads; gRPC code name -> count ("OK" for success)."""
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def one(volume: Volume) -> None:
        try:
            mount_volume(driver, volume)
            code = "OK"
        except MountFailed as e:
            code = e.code.name if e.code else e.reason
        with lock:
            outcomes[code] += 1

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(one, v) for v in vols]:
            future.result()  # WrongContent propagates
    return outcomes


@dataclass(frozen=True)
class Snapshot:
    """What a leak would move."""

    open_fds: int
    tasks: int
    rss_mib: float
    peak_rss_mib: float

    def __str__(self) -> str:
        return f"fds={self.open_fds} tasks={self.tasks} rss={self.rss_mib:.1f}MiB peak={self.peak_rss_mib:.1f}MiB"


MIB = 1024.0 * 1024.0
# The scrape itself is one more connection (and maybe an accept in progress) in the process.
FD_SLACK = 3
# Resident memory moves a little while /metrics is rendered and sent.
RSS_SLACK_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ProcReading:
    """/proc's view of a process: open descriptors and resident memory in bytes (VmRSS, VmHWM)."""

    open_fds: int
    rss: int
    peak_rss: int

    @staticmethod
    def of(pid: int) -> ProcReading:
        status = dict(
            line.split(":", 1) for line in open(f"/proc/{pid}/status", encoding="ascii").read().splitlines()
        )
        kib = {k: int(status[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM")}
        return ProcReading(len(os.listdir(f"/proc/{pid}/fd")), kib["VmRSS"], kib["VmHWM"])


class ProcessWatch:
    """Snapshots of one provider process."""

    def __init__(self, provider: ProviderProcess) -> None:
        assert provider.proc is not None
        self.provider = provider
        self.pid = provider.proc.pid

    def snapshot(self) -> Snapshot:
        proc = ProcReading.of(self.pid)
        return Snapshot(
            open_fds=proc.open_fds,
            tasks=int(self.provider.metric("tokio_alive_tasks")),
            rss_mib=proc.rss / MIB,
            peak_rss_mib=proc.peak_rss / MIB,
        )

    def check_metrics(self) -> str:
        """The provider's process gauges agree with /proc read around the scrape; a description."""
        before = ProcReading.of(self.pid)
        fds = self.provider.metric("process_open_fds")
        rss = self.provider.metric("process_resident_memory_bytes")
        peak = self.provider.metric("process_peak_resident_memory_bytes")
        after = ProcReading.of(self.pid)
        low, high = min(before.open_fds, after.open_fds), max(before.open_fds, after.open_fds)
        assert low - FD_SLACK <= fds <= high + FD_SLACK, f"process_open_fds {fds:g}, /proc {before} .. {after}"
        assert min(before.rss, after.rss) - RSS_SLACK_BYTES <= rss <= max(before.rss, after.rss) + RSS_SLACK_BYTES, (
            f"process_resident_memory_bytes {rss:g}, /proc {before} .. {after}"
        )
        # The kernel's RSS counters are synced per thread lazily, so two readings of VmHWM a few
        # milliseconds apart can differ by a few pages either way: the same slack as for RSS.
        low, high = min(before.peak_rss, after.peak_rss), max(before.peak_rss, after.peak_rss)
        assert low - RSS_SLACK_BYTES <= peak <= high + RSS_SLACK_BYTES, (
            f"process_peak_resident_memory_bytes {peak:.0f}, /proc {before} .. {after}"
        )
        return f"metrics agree with /proc: fds {fds:g}, rss {rss / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB"


class GaugePeak:
    """The highest value of a gauge on a provider's /metrics, polled while the block runs."""

    def __init__(self, provider: ProviderProcess, name: str, interval: float = 0.02) -> None:
        self.provider = provider
        self.name = name
        self.interval = interval
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.provider.metric(self.name))
            self._stop.wait(self.interval)

    def __enter__(self) -> GaugePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
