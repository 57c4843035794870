"""Shared fixtures of the chart checks: the pinned helm binary and rendered scenarios."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

TESTS = Path(__file__).resolve().parent
CHART = TESTS.parent / "keywarden"
EXAMPLES = CHART / "examples"
VALUES = TESTS / "values"

# Oldest and newest Kubernetes minor the chart supports and is validated against. 1.30 is the
# floor of the Secrets Store CSI driver 1.6 chart; 1.37 is the newest schema set that the
# pinned kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")

MONITORING_API = "monitoring.coreos.com/v1"
NAMESPACE = "kube-system"


@dataclass(frozen=True)
class Scenario:
    """One way of rendering the chart."""

    name: str
    values_files: tuple[str, ...] = ()
    set_values: tuple[str, ...] = ()
    api_versions: tuple[str, ...] = ()

    def args(self) -> list[str]:
        out: list[str] = []
        for f in self.values_files:
            out += ["--values", str(VALUES / f)]
        for s in self.set_values:
            out += ["--set", s]
        return out


SCENARIOS = (
    Scenario("default"),
    # Every optional feature on, with the Prometheus Operator API present.
    Scenario("full", values_files=("full.yaml",), api_versions=(MONITORING_API,)),
    # Monitors requested without the Prometheus Operator: no monitor may render.
    Scenario("full-no-crds", values_files=("full.yaml",)),
    Scenario("lean", values_files=("lean.yaml",)),
)


def helm_bin() -> str:
    path = os.environ.get("KEYWARDEN_HELM") or shutil.which("helm")
    if not path or not Path(path).exists():
        pytest.fail("no helm binary: run through `make chart-check`, which installs the pinned one")
    return path


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    # Keep helm's caches and config out of the clone and the user's home.
    cache = Path(os.environ.get("KEYWARDEN_HELM_HOME", "/tmp/keywarden-helm-home"))
    env.update(
        HELM_CACHE_HOME=str(cache / "cache"),
        HELM_CONFIG_HOME=str(cache / "config"),
        HELM_DATA_HOME=str(cache / "data"),
    )
    proc = subprocess.run(
        [helm_bin(), *args], capture_output=True, text=True, env=env, timeout=120
    )
    if check and proc.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@dataclass
class Rendered:
    """The manifests of one scenario."""

    scenario: Scenario
    text: str
    objects: list[dict] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, component: str | None = None) -> dict:
        found = [
            o
            for o in self.of_kind(kind)
            if component is None
            or o["metadata"]["labels"].get("app.kubernetes.io/component") == component
        ]
        assert len(found) == 1, f"{self.scenario.name}: expected one {kind} {component}, got {len(found)}"
        return found[0]


def render(scenario: Scenario, *extra: str) -> Rendered:
    args = ["template", "kw", str(CHART), "--namespace", NAMESPACE, *scenario.args(), *extra]
    for api in scenario.api_versions:
        args += ["--api-versions", api]
    text = helm(*args).stdout
    objects = [d for d in yaml.safe_load_all(text) if d]
    return Rendered(scenario, text, objects)


_cache: dict[str, Rendered] = {}


def rendered(name: str) -> Rendered:
    if name not in _cache:
        _cache[name] = render(next(s for s in SCENARIOS if s.name == name))
    return _cache[name]


def container(daemonset: dict) -> dict:
    return daemonset["spec"]["template"]["spec"]["containers"][0]
