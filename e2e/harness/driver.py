"""A client that calls the provider exactly as the Secrets Store CSI driver does.

- Dials `unix:<socket>` with the driver's service config (waitForReady, three
  attempts on UNAVAILABLE) and its 4 MiB receive limit.
- Two `:authority` modes: `localhost` (driver v1.6.0+, grpc.WithAuthority) and
  the raw socket path (drivers before v1.6.0, grpc.Dial(socketPath) with a unix
  dialer). test_harness_authority.py checks on the wire that the second really
  sends the path.
- Builds `attributes` as the driver does (docs/reference.md §8.1): SPC parameters,
  then the volume context copied over them (it wins on collision), then the
  token JSON when tokens are given; a flat string->string JSON object.
  `secrets` is the JSON of a nil map ("null"), `permission` is "420".
- Applies the response as the driver does (docs/reference.md §8.2, §8.3): at least one
  object_version is required, every path is validated, files are written with
  the Kubernetes atomic writer (harness/writer.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from . import protos, writer

LOCALHOST = "localhost"
SOCKET_PATH = "socket-path"
MAX_RECV = 4 * 1024 * 1024

SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{"service": "v1alpha1.CSIDriverProvider"}],
                "waitForReady": True,
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "1s",
                    "maxBackoff": "10s",
                    "backoffMultiplier": 1.1,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)


@dataclass(frozen=True)
class Pod:
    """The pod whose volume is being published."""

    name: str = "app-0"
    namespace: str = "default"
    uid: str = "8f6e3b0c-1d2a-4c5e-9f70-000000000001"
    service_account: str = "app"


def volume_context(pod: Pod, spc_name: str, ephemeral: bool = True) -> dict[str, str]:
    """The CSI volume context kubelet passes for an inline volume with podInfoOnMount."""
    ctx = {
        "secretProviderClass": spc_name,
        "csi.storage.k8s.io/pod.name": pod.name,
        "csi.storage.k8s.io/pod.namespace": pod.namespace,
        "csi.storage.k8s.io/pod.uid": pod.uid,
        "csi.storage.k8s.io/serviceAccount.name": pod.service_account,
    }
    if ephemeral:
        ctx["csi.storage.k8s.io/ephemeral"] = "true"
    return ctx


def build_attributes(
    parameters: dict[str, str], context: dict[str, str], tokens: str | None = None
) -> str:
    """The `attributes` string: parameters, volume context over them, then tokens."""
    merged = dict(parameters)
    merged.update(context)
    if tokens:
        merged["csi.storage.k8s.io/serviceAccount.tokens"] = tokens
    for k, v in merged.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"SPC parameters are map[string]string; {k!r}: {v!r}")
    # Go's json.Marshal of a map sorts keys and escapes <, >, & — irrelevant to parsers.
    return json.dumps(merged, sort_keys=True, separators=(",", ":"))


class MountFailed(Exception):
    """The Mount failed as the driver would see it."""

    def __init__(self, code: grpc.StatusCode | None, details: str, reason: str) -> None:
        super().__init__(f"{reason}: {code.name if code else '-'}: {details}")
        self.code = code
        self.details = details
        self.reason = reason  # the driver's error reason: GRPCProviderError or FileWriteError


@dataclass
class MountedFile:
    contents: bytes
    mode: int


@dataclass
class MountResult:
    """What the pod sees after the Mount, and what the provider answered."""

    target: Path
    files: dict[str, MountedFile]
    versions: dict[str, str]
    response: Any
    written: bool
    returned_modes: dict[str, int] = field(default_factory=dict)


def channel_options(authority: str | None) -> list[tuple[str, Any]]:
    """The driver's channel options (receive limit, retry policy), with `authority` as the
    default `:authority` when given (gRPC's own choice otherwise)."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", MAX_RECV),
        ("grpc.service_config", SERVICE_CONFIG),
        ("grpc.enable_retries", 1),
    ]
    if authority is not None:
        options.append(("grpc.default_authority", authority))
    return options


class Driver:
    """Driver-side connection to one provider socket."""

    def __init__(self, socket_path: str | Path, authority: str = LOCALHOST, timeout: float = 30.0) -> None:
        self.socket_path = str(socket_path)
        self.authority_mode = authority
        self.timeout = timeout
        self.pb2, pb2_grpc = protos.v1alpha1()
        if authority == LOCALHOST:
            options = channel_options("localhost")
        elif authority == SOCKET_PATH:
            options = channel_options(self.socket_path)
        else:
            raise ValueError(f"unknown authority mode {authority!r}")
        self.channel = grpc.insecure_channel(f"unix:{self.socket_path}", options=options)
        self.stub = pb2_grpc.CSIDriverProviderStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Driver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def version(self) -> Any:
        return self.stub.Version(self.pb2.VersionRequest(version="v1alpha1"), timeout=5.0)

    def mount_request(
        self,
        parameters: dict[str, str],
        target: str | Path,
        pod: Pod = Pod(),
        spc_name: str = "app-secrets",
        tokens: str | None = None,
        secrets: dict[str, str] | None = None,
        attributes: str | None = None,
    ) -> Any:
        """The MountRequest the driver would send; `attributes` overrides the built string."""
        if attributes is None:
            attributes = build_attributes(parameters, volume_context(pod, spc_name), tokens)
        return self.pb2.MountRequest(
            attributes=attributes,
            secrets=json.dumps(secrets),  # nil map -> "null"
            target_path=str(target),
            permission="420",  # json.Marshal(os.FileMode(0644))
        )

    def mount_raw(self, request: Any) -> Any:
        """Send a MountRequest; gRPC errors surface as MountFailed(GRPCProviderError)."""
        try:
            return self.stub.Mount(request, timeout=self.timeout)
        except grpc.RpcError as e:
            raise MountFailed(e.code(), e.details() or "", "GRPCProviderError") from None

    def mount(self, parameters: dict[str, str], target: str | Path, **kw: Any) -> MountResult:
        """A full NodePublish as the driver does it: call, check, write."""
        response = self.mount_raw(self.mount_request(parameters, target, **kw))
        return apply_response(response, Path(target))


def apply_response(response: Any, target: Path) -> MountResult:
    """The driver's handling of a successful MountResponse (docs/reference.md §8.3, §8.2)."""
    if response.error.code:
        raise MountFailed(None, response.error.code, response.error.code)
    if len(response.object_version) == 0:
        raise MountFailed(None, "missing object versions", "GRPCProviderError")
    payloads = [writer.Payload(f.path, f.mode, f.contents) for f in response.files]
    try:
        written = writer.write_payloads(target, payloads)
    except writer.InvalidPath as e:
        raise MountFailed(None, str(e), "FileWriteError") from None
    files = {p: MountedFile(c, m) for p, (c, m) in writer.read_visible_files(target).items()}
    versions = {v.id: v.version for v in response.object_version}
    return MountResult(
        target=target,
        files=files,
        versions=versions,
        response=response,
        written=written,
        returned_modes={f.path: f.mode for f in response.files},
    )
