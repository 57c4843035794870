"""The chart: helm lint, helm template, Kubernetes schemas, checkov and what the manifests say."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from conftest import (
    CHART,
    KUBERNETES_VERSIONS,
    MONITORING_API,
    SCENARIOS,
    VALUES,
    Scenario,
    container,
    helm,
    render,
    rendered,
)
from crd_schemas import CRD_SCHEMAS

SCENARIO_NAMES = [s.name for s in SCENARIOS]


# --- helm lint ---------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, "full.yaml", "lean.yaml"])
def test_helm_lint_strict(values):
    args = ["lint", "--strict", str(CHART)]
    if values:
        args += ["--values", str(VALUES / values)]
    out = helm(*args).stdout
    assert "0 chart(s) failed" in out, out


# --- helm template: what each scenario renders -------------------------------------------------


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_renders(name):
    r = rendered(name)
    kinds = sorted(o["kind"] for o in r.objects)
    print(f"{name}: {kinds}")
    assert r.one("DaemonSet", "provider")


def test_default_render_is_minimal():
    r = rendered("default")
    kinds = sorted(o["kind"] for o in r.objects)
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "DaemonSet",
        "NetworkPolicy",
        "ServiceAccount",
    ]
    ds = r.one("DaemonSet", "provider")
    pod = ds["spec"]["template"]["spec"]
    c = container(ds)
    # No kubelet pods directory unless writeMode is provider: one hostPath, the socket dir.
    assert [v["hostPath"]["path"] for v in pod["volumes"]] == ["/var/run/secrets-store-csi-providers"]
    assert pod["hostNetwork"] is False
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert "--socket=/var/run/secrets-store-csi-providers/keywarden.sock" in c["args"]
    # One dual-stack socket by default: probes reach the pod IP on IPv4-only, IPv6-only and
    # dual-stack clusters.
    assert "--http-addr=[::]:8989" in c["args"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["image"] == f"ghcr.io/keywarden/keywarden:{chart_app_version()}"
    # ClusterRole: get serviceaccounts, nothing else.
    role = r.one("ClusterRole")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get"]}]


def test_hardened_by_default():
    for name in SCENARIO_NAMES:
        r = rendered(name)
        for ds in r.of_kind("DaemonSet"):
            pod = ds["spec"]["template"]["spec"]
            sc = container(ds)["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["privileged"] is False, name
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert "resources" in container(ds), name


def test_full_render_turns_everything_on():
    r = rendered("full")
    ds = r.one("DaemonSet", "provider")
    pod = ds["spec"]["template"]["spec"]
    c = container(ds)
    args = c["args"]
    for flag in (
        "--region=eu-west-1",
        "--allow-node-identity=true",
        "--node-identity-namespaces=platform-tools,ci",
        "--write-mode=provider",
        "--http-addr=0.0.0.0:9898",
        "--s3-force-path-style=false",
        "--log-format=text",
    ):
        assert flag in args, flag
    # writeMode provider: the kubelet pods directory, with mount propagation from the host.
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["kubelet-pods"]["mountPath"] == "/var/lib/kubelet/pods"
    assert mounts["kubelet-pods"]["mountPropagation"] == "HostToContainer"
    assert c["image"].endswith("@sha256:" + "0123456789abcdef" * 4)
    assert pod["priorityClassName"] == "system-node-critical"
    assert pod["nodeSelector"]["kubernetes.io/os"] == "linux"
    assert {"name": "AWS_USE_FIPS_ENDPOINT", "value": "true"} in c["env"]
    # Monitors exist because the API was announced.
    assert len(r.of_kind("PodMonitor")) == 2
    assert r.one("ServiceMonitor")
    assert r.one("Service")

    kms = r.one("DaemonSet", "kms-plugin")
    kpod = kms["spec"]["template"]["spec"]
    kc = container(kms)
    assert kpod["hostNetwork"] is True
    assert kpod["automountServiceAccountToken"] is False
    assert [v["hostPath"]["path"] for v in kpod["volumes"]] == ["/var/run/kmsplugin"]
    assert kpod["nodeSelector"] == {
        "kubernetes.io/os": "linux",
        "node-role.kubernetes.io/control-plane": "",
    }
    assert {t["key"] for t in kpod["tolerations"]} == {
        "node-role.kubernetes.io/control-plane",
        "node-role.kubernetes.io/master",
    }
    assert kc["args"] == [
        "--socket=/var/run/kmsplugin/keywarden.sock",
        "--take-over-socket",
        "--key=arn:aws:kms:eu-west-1:111122223333:alias/etcd",
        "--region=eu-west-1",
        "--encryption-context=cluster=prod-eu",
        "--encryption-context=purpose=etcd",
        "--decrypt-keys=arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "--http-addr=0.0.0.0:8083",
        "--health-interval=10m",
        "--key-refresh-interval=1m",
        "--decrypt-cache-size=5000",
        "--decrypt-cache-ttl=15m",
        "--kms-timeout=4s",
        "--log-format=json",
        "--log-level=debug",
    ]
    # Probes reach the host-network pod on loopback.
    assert kc["livenessProbe"]["httpGet"] == {"host": "127.0.0.1", "path": "/livez", "port": 8083}
    # No moment without a socket: the new pod starts beside the old one and takes the socket over.
    assert kms["spec"]["updateStrategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert kc["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_monitors_need_the_prometheus_operator_api():
    r = rendered("full-no-crds")
    assert not r.of_kind("PodMonitor")
    assert not r.of_kind("ServiceMonitor")
    assert not r.of_kind("Service")


def test_kms_plugin_on_loopback_gets_no_pod_monitor():
    r = render(
        Scenario(
            "kms-loopback",
            set_values=("kmsPlugin.enabled=true", "kmsPlugin.key=alias/etcd", "metrics.podMonitor.enabled=true"),
            api_versions=(MONITORING_API,),
        )
    )
    monitors = r.of_kind("PodMonitor")
    assert [m["metadata"]["name"] for m in monitors] == ["kw-keywarden"]
    kc = container(r.one("DaemonSet", "kms-plugin"))
    assert "--http-addr=127.0.0.1:8083" in kc["args"]
    assert kc["livenessProbe"]["httpGet"]["host"] == "127.0.0.1"


def test_lean_render_has_no_api_access_and_no_http():
    r = rendered("lean")
    assert not r.of_kind("ClusterRole") and not r.of_kind("ClusterRoleBinding")
    assert not r.of_kind("ServiceAccount")
    assert not r.of_kind("NetworkPolicy")
    ds = r.one("DaemonSet", "provider")
    pod = ds["spec"]["template"]["spec"]
    c = container(ds)
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "keywarden"
    assert "--http-addr=off" in c["args"]
    assert "livenessProbe" not in c and "ports" not in c


def test_provider_dir_follows_the_value():
    r = render(Scenario("dir", set_values=("providerDir=/etc/kubernetes/secrets-store-csi-providers",)))
    ds = r.one("DaemonSet", "provider")
    assert "--socket=/etc/kubernetes/secrets-store-csi-providers/keywarden.sock" in container(ds)["args"]
    vols = ds["spec"]["template"]["spec"]["volumes"]
    assert vols[0]["hostPath"]["path"] == "/etc/kubernetes/secrets-store-csi-providers"


def test_user_node_selector_cannot_drop_linux():
    r = render(Scenario("sel", set_values=("nodeSelector.kubernetes\\.io/os=windows", "nodeSelector.pool=a")))
    sel = r.one("DaemonSet", "provider")["spec"]["template"]["spec"]["nodeSelector"]
    assert sel == {"kubernetes.io/os": "linux", "pool": "a"}


# --- values.schema.json rejects what the chart cannot render -----------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "unknownKey=1",
        "writeMode=both",
        "image.digest=sha256:nothex",
        "http.port=0",
        "log.format=xml",
        "cacheTTL=five minutes",
        "identity.nodeIdentityNamespaces[0]=Not_A_Namespace",
        "kmsPlugin.enabled=true",  # no key
        "kmsPlugin.encryptionContext.a=b\\,c",
        "tolerations[0].operator=Maybe",
        "resources.requets.cpu=1",
    ],
)
def test_schema_rejects(bad):
    proc = helm("template", "kw", str(CHART), "--set", bad, check=False)
    assert proc.returncode != 0, f"--set {bad} was accepted"
    print(f"--set {bad}: {proc.stderr.strip().splitlines()[-1]}")


def test_schema_covers_every_value():
    """Every leaf of values.yaml and of the test values files is described by the schema."""
    schema = json.loads((CHART / "values.schema.json").read_text())

    def check(node, value, path):
        assert node is not None, f"{path} is not in values.schema.json"
        if isinstance(value, dict) and node.get("properties") is not None:
            for key, sub in value.items():
                props = node["properties"]
                child = props.get(key)
                if child is None and isinstance(node.get("additionalProperties"), dict):
                    child = node["additionalProperties"]
                check(child, sub, f"{path}.{key}")

    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    for source in [CHART / "values.yaml", *sorted(VALUES.glob("*.yaml"))]:
        values = yaml.safe_load(source.read_text())
        check(schema, values, source.name)
        jsonschema.validate(merge(copy.deepcopy(defaults), values), schema)
    # Objects without a free-form reason refuse unknown keys.
    closed = [k for k, v in schema["properties"].items() if v.get("additionalProperties") is False]
    assert {"image", "identity", "http", "kmsPlugin", "metrics", "serviceAccount"} <= set(closed)


# --- Kubernetes schemas ------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_kubernetes_validate(name, version):
    r = rendered(name)
    checked = []
    for obj in r.objects:
        kind = obj["kind"]
        if kind in CRD_SCHEMAS:
            jsonschema.validate(obj, CRD_SCHEMAS[kind])
        else:
            kubernetes_validate.validate(obj, version, strict=True)
        checked.append(kind)
    print(f"{name} @ {version}: {len(checked)} objects valid: {checked}")
    assert checked


def test_strict_validation_catches_unknown_fields():
    """The validator itself: a misspelt field in a DaemonSet is an error."""
    ds = copy.deepcopy(rendered("default").one("DaemonSet", "provider"))
    ds["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(ds, KUBERNETES_VERSIONS[0], strict=True)


# --- checkov -----------------------------------------------------------------------------------


def test_checkov_no_unexplained_failures(tmp_path):
    for s in SCENARIOS:
        (tmp_path / f"{s.name}.yaml").write_text(rendered(s.name).text)
    checkov = Path(sys.executable).parent / "checkov"
    proc = subprocess.run(
        [str(checkov), "--directory", str(tmp_path), "--framework", "kubernetes",
         "--skip-download", "--output", "json"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.stdout.strip(), proc.stderr
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = report["results"]["failed_checks"]
    skipped = report["results"]["skipped_checks"]
    summary = report["summary"]
    print(f"checkov {summary['checkov_version']}: passed {summary['passed']}, failed {summary['failed']}, "
          f"skipped {summary['skipped']} over {summary['resource_count']} resources")
    for check_id, kind, reason in sorted({
        (s["check_id"], s["resource"].split(".")[0] + " " + s["resource"].split(".")[2], s["check_result"].get("suppress_comment"))
        for s in skipped
    }):
        print(f"  suppressed {check_id} on {kind}: {reason}")
    assert not failed, "\n".join(f"{c['check_id']} {c['check_name']} on {c['resource']} ({c['file_path']})" for c in failed)
    for s in skipped:
        reason = s["check_result"].get("suppress_comment") or ""
        assert len(reason) > 20, f"{s['check_id']} on {s['resource']} is suppressed without a reason"
    assert summary["parsing_errors"] == 0


def merge(base: dict, override: dict) -> dict:
    """Helm's coalescing of a values file over the defaults."""
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def chart_app_version() -> str:
    return yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]


def test_image_matches_the_dockerfile():
    """The chart's default image is the one the root Dockerfile builds: both binaries where the
    DaemonSets' commands expect them, version = the workspace version."""
    import re

    root = CHART.parents[1]
    dockerfile = (root / "Dockerfile").read_text()
    assert "COPY --from=build /out/keywarden-provider /out/keywarden-kms /usr/local/bin/" in dockerfile
    assert "TARGETARCH" in dockerfile and "crt-static" in dockerfile
    r = rendered("full")
    assert container(r.one("DaemonSet", "provider"))["command"] == ["/usr/local/bin/keywarden-provider"]
    assert container(r.one("DaemonSet", "kms-plugin"))["command"] == ["/usr/local/bin/keywarden-kms"]
    cargo = (root / "Cargo.toml").read_text()
    version = re.search(r'\[workspace\.package\][^\[]*?version = "([^"]+)"', cargo, re.S).group(1)
    assert chart_app_version() == version, "Chart.yaml appVersion must follow the workspace version"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["image"]["repository"] == "ghcr.io/keywarden/keywarden"


def test_non_root_provider_leaves_the_kms_plugin_root(tmp_path):
    """README "Running as non-root" changes the provider's pod security context; the KMS plugin
    keeps its own (root, no capabilities), since its socket directory is root-owned."""
    non_root = tmp_path / "non-root.yaml"
    non_root.write_text(yaml.safe_dump({
        "podSecurityContext": {"runAsUser": 10001, "runAsGroup": 10001, "runAsNonRoot": True,
                               "seccompProfile": {"type": "RuntimeDefault"}},
        "kmsPlugin": {"enabled": True, "key": "alias/etcd"},
    }))
    r = render(next(s for s in SCENARIOS if s.name == "default"), "-f", str(non_root))
    provider = r.one("DaemonSet", "provider")["spec"]["template"]["spec"]
    kms = r.one("DaemonSet", "kms-plugin")["spec"]["template"]["spec"]
    assert provider["securityContext"]["runAsUser"] == 10001
    assert kms["securityContext"]["runAsUser"] == 0, kms["securityContext"]
    assert "runAsNonRoot" not in kms["securityContext"]
    assert kms["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
