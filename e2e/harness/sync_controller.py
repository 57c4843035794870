"""A client that calls the provider exactly as the Secrets Store sync controller does
(kubernetes-sigs/secrets-store-sync-controller, docs/reference.md §2.10), and applies its rules
to the answer.

The request (the controller's `prepareCSIProviderParams` and `Mount` call):

- `attributes`: the SecretProviderClass parameters, then `csi.storage.k8s.io/pod.name` and
  `pod.uid` of the **controller's own** pod, `pod.namespace` = the SecretSync's namespace,
  `serviceAccount.name` = the SecretSync's `serviceAccountName`, and `serviceAccount.tokens`
  only when an audience is configured: one audience, a 600 s token for the ServiceAccount that
  is not bound to any pod. No `secretProviderClass`, no `csi.storage.k8s.io/ephemeral`.
- `secrets` = `"{}"`, `permission` = `"420"`, `target_path` = `/mnt/secrets-store` (never
  created), `current_object_version` empty.
- Dialled at `unix://<socket>`, which sends `:authority` `localhost`; releases before v0.0.3
  dialled the bare path, which sends the percent-encoded socket path.

Its rules for the answer: an `error.code` or no `object_version` fails the sync; every
`sourcePath` of the SecretSync must match the CRD's pattern, and is looked up exactly among
the returned files' paths (modes are ignored); files written anywhere are never seen.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from . import protos
from .driver import MountFailed, Pod, channel_options
from .tokens import IRSA_AUDIENCE, pod_tokens

TARGET_PATH = "/mnt/secrets-store"
# secret-sync.x-k8s.io_secretsyncs.yaml: spec.secretObject.data[].sourcePath (and targetKey).
SOURCE_PATH = re.compile(r"^[A-Za-z0-9.]([-A-Za-z0-9]+([-._a-zA-Z0-9]?[A-Za-z0-9])*)?(\/([0-9]+))*$")
SOURCE_PATH_MAX = 253
TOKEN_LIFETIME = dt.timedelta(seconds=600)
LOCALHOST = "localhost"
ESCAPED_PATH = "escaped-path"
CONTROLLER_POD = "secrets-store-sync-controller-manager-6b7c9d5f4-x2x9q"
CONTROLLER_UID = "3c1d7a52-0b8e-4f5e-9a61-5e0c9d2b7f10"


class SyncFailed(Exception):
    """The sync failed as the controller would report it on the SecretSync."""


@dataclass(frozen=True)
class SecretSync:
    """The parts of a SecretSync the controller uses to call the provider."""

    name: str
    namespace: str
    service_account: str
    spc_parameters: dict[str, str]
    data: list[tuple[str, str]] = field(default_factory=list)  # (sourcePath, targetKey)


def valid_source_path(path: str) -> bool:
    return 0 < len(path) <= SOURCE_PATH_MAX and SOURCE_PATH.fullmatch(path) is not None


def tokens(sync: SecretSync, audience: str = IRSA_AUDIENCE) -> tuple[str, str]:
    """(attribute value, raw token): one audience, 600 s, bound to no pod."""
    owner = Pod(name="", uid="", namespace=sync.namespace, service_account=sync.service_account)
    attr, raw = pod_tokens(owner, audiences=(audience,), lifetime=TOKEN_LIFETIME, bound=False)
    return attr, raw[audience]


class SyncController:
    """The controller's connection to its provider sidecar's socket."""

    def __init__(self, socket_path: str | Path, authority: str = LOCALHOST, timeout: float = 30.0,
                 pod_name: str = CONTROLLER_POD, pod_uid: str = CONTROLLER_UID) -> None:
        self.socket_path = str(Path(socket_path).absolute())
        self.pod_name = pod_name
        self.pod_uid = pod_uid
        self.timeout = timeout
        self.pb2, pb2_grpc = protos.v1alpha1()
        if authority == LOCALHOST:
            options = channel_options("localhost")
        elif authority == ESCAPED_PATH:
            options = channel_options(urllib.parse.quote(self.socket_path, safe=""))
        else:
            raise ValueError(f"unknown authority mode {authority!r}")
        self.channel = grpc.insecure_channel(f"unix://{self.socket_path}", options=options)
        self.stub = pb2_grpc.CSIDriverProviderStub(self.channel)
        self.last_response: Any = None  # the MountResponse of the last sync()

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> SyncController:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def attributes(self, sync: SecretSync, token_attr: str | None) -> str:
        params = dict(sync.spc_parameters)
        params["csi.storage.k8s.io/pod.name"] = self.pod_name
        params["csi.storage.k8s.io/pod.uid"] = self.pod_uid
        params["csi.storage.k8s.io/pod.namespace"] = sync.namespace
        params["csi.storage.k8s.io/serviceAccount.name"] = sync.service_account
        if token_attr:
            params["csi.storage.k8s.io/serviceAccount.tokens"] = token_attr
        return json.dumps(params, sort_keys=True, separators=(",", ":"))

    def request(self, sync: SecretSync, token_attr: str | None) -> Any:
        return self.pb2.MountRequest(
            attributes=self.attributes(sync, token_attr),
            secrets="{}",
            target_path=TARGET_PATH,
            permission="420",
        )

    def mount_raw(self, request: Any) -> Any:
        try:
            return self.stub.Mount(request, timeout=self.timeout)
        except grpc.RpcError as e:
            raise MountFailed(e.code(), e.details() or "", "GRPCProviderError") from None

    def sync(self, sync: SecretSync, token_attr: str | None) -> dict[str, bytes]:
        """One reconcile: the Secret's data the controller would write, or SyncFailed/MountFailed."""
        for source, key in sync.data:
            if not valid_source_path(source) or not valid_source_path(key):
                raise SyncFailed(f"the SecretSync is refused by its CRD: sourcePath {source!r} / targetKey {key!r}")
        response = self.mount_raw(self.request(sync, token_attr))
        self.last_response = response
        if response.error.code:
            raise SyncFailed(f"provider error code {response.error.code}")
        if len(response.object_version) == 0:
            raise SyncFailed("the provider returned no object versions")
        files = {f.path: f.contents for f in response.files}
        data = {}
        for source, key in sync.data:
            if source not in files:
                raise SyncFailed(f"sourcePath {source!r} is not among the returned files {sorted(files)}")
            data[key] = files[source]
        return data
