"""SecretProviderClass parameters as a user would write them.

`objects` is YAML text inside the flat string map (docs/reference.md §2.3); these helpers
produce it from Python lists so tests and the demo read like manifests.
"""

from __future__ import annotations

from typing import Any

import yaml


class _NoAliases(yaml.SafeDumper):
    """Writes a repeated Python object out in full: the provider refuses YAML anchors and aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def objects_yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.dump(objects, Dumper=_NoAliases, sort_keys=False, default_flow_style=False)


def parameters(objects: list[dict[str, Any]] | str, identity: str | None = "node", **extra: str) -> dict[str, str]:
    """SPC `parameters`: objects (list or raw YAML text), identity (None = leave it out), extras."""
    params = {"objects": objects if isinstance(objects, str) else objects_yaml(objects)}
    if identity is not None:
        params["identity"] = identity
    params.update(extra)
    return params


def manifest(
    objects: list[dict[str, Any]],
    name: str = "app-secrets",
    namespace: str | None = None,
    api_version: str = "secrets-store.csi.x-k8s.io/v1",
    provider: str = "keywarden",
    **extra: str,
) -> str:
    """A SecretProviderClass manifest (YAML) whose parameters are `parameters(objects, **extra)`."""
    metadata: dict[str, str] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    doc = {
        "apiVersion": api_version,
        "kind": "SecretProviderClass",
        "metadata": metadata,
        "spec": {"provider": provider, "parameters": parameters(objects, identity=None, **extra)},
    }
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
