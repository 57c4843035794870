"""The static pod example (plugin-kms/deploy/static-pod.yaml), started as the kubelet would.

Read from the manifest and applied for real: the container's command and arguments, the user
and group it declares, its capabilities dropped (a cleared bounding set, so even uid 0 has none)
and no new privileges (setpriv), and its hostPath socket directory created as kubelet creates a
`DirectoryOrCreate` path: root-owned, 0755. Only what is host-specific is mapped: the binary's
path, the hostPath (to a temporary directory) and the HTTP port (to a free one). The socket must
come up and serve the apiserver's flow; run as the image's non-root user, the same manifest
cannot bind (what the issue reproduced), which shows the test can fail.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.apiserver import ApiServer
from harness.kms_fixtures import etcd, kms_aws, kms_seed  # noqa: F401
from harness.kms_plugin import KmsPluginProcess
from harness.net import free_port

MANIFEST = Path(__file__).resolve().parents[1] / "plugin-kms" / "deploy" / "static-pod.yaml"
IMAGE_USER = 65532  # the Dockerfile's USER

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                                reason="needs root and setpriv to run the pod's user and capabilities")


def pod_spec() -> dict:
    return yaml.safe_load(MANIFEST.read_text())["spec"]


def kubelet_argv(spec: dict, host_dir: Path, http_port: int, uid: int, gid: int) -> list[str]:
    """The container's command as the kubelet runs it, under setpriv for its security context."""
    container = spec["containers"][0]
    volume = next(v for v in spec["volumes"] if v["name"] == container["volumeMounts"][0]["name"])
    mount = container["volumeMounts"][0]["mountPath"]
    assert volume["hostPath"]["path"] == mount, "the socket has the same path in the pod and on the host"
    command = [str(KmsPluginProcess.installed_binary())]
    for arg in container["command"][1:]:
        if arg.startswith("--socket="):
            arg = arg.replace(mount, str(host_dir), 1)
        elif arg.startswith("--http-addr="):
            arg = f"--http-addr=127.0.0.1:{http_port}"
        command.append(arg)
    security = container["securityContext"]
    assert security["capabilities"]["drop"] == ["ALL"] and security["allowPrivilegeEscalation"] is False
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--no-new-privs",
            "--inh-caps=-all", "--bounding-set=-all", "--", *command]


@pytest.fixture
def host_root() -> Iterator[Path]:
    """A scratch directory anyone can traverse, like / above /var/run (pytest's tmp_path is 0700)."""
    base = Path(tempfile.mkdtemp(prefix="kw-static-pod-"))
    os.chmod(base, 0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def directory_as_kubelet_creates(base: Path) -> Path:
    host_dir = base / "var-run-kmsplugin"
    host_dir.mkdir(mode=0o755)
    os.chown(host_dir, 0, 0)
    os.chmod(host_dir, 0o755)
    return host_dir


def run(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)


def aws_env(kms_aws) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWARDEN_"))}, **kms_aws.env()}


def test_the_static_pod_runs_as_declared_and_serves_the_socket(kms_aws, kms_seed, etcd, tmp_path, host_root, say):
    spec = pod_spec()
    container = spec["containers"][0]
    key_arg = next(a for a in container["command"] if a.startswith("--key="))
    target = kms_seed.kms_key("static pod key")
    kms_seed.kms.create_alias(AliasName=key_arg.split("=", 1)[1], TargetKeyId=target["KeyId"])
    security = container["securityContext"]
    uid, gid = security["runAsUser"], security["runAsGroup"]
    host_dir = directory_as_kubelet_creates(host_root)
    port = free_port()
    argv = kubelet_argv(spec, host_dir, port, uid, gid)
    say(f"kubelet-style start: {' '.join(argv[:8])} … {' '.join(argv[9:])}")
    proc = run(argv, aws_env(kms_aws), tmp_path / "pod.log")
    socket_path = host_dir / "keywarden.sock"
    try:
        deadline = time.monotonic() + 20
        while not socket_path.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert socket_path.exists(), (tmp_path / "pod.log").read_text()
        st = os.stat(socket_path)
        status = Path(f"/proc/{proc.pid}/status").read_text()
        fields = {line.split(":")[0]: line.split(":", 1)[1].split() for line in status.splitlines() if ":" in line}
        say(f"socket {stat.S_IMODE(st.st_mode):04o} owned by {st.st_uid}:{st.st_gid} in a root-owned 0755 dir; "
            f"/proc: Uid {fields['Uid'][0]}, CapEff {fields['CapEff'][0]}, CapBnd {fields['CapBnd'][0]}, "
            f"NoNewPrivs {fields['NoNewPrivs'][0]}")
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (uid, 0o600)
        assert fields["Uid"][0] == str(uid) and int(fields["CapEff"][0], 16) == 0 and fields["NoNewPrivs"][0] == "1"
        probe = container["readinessProbe"]["httpGet"]["path"]
        with ApiServer(etcd, socket_path) as api:
            key_id = api.probe()
            path = f"/registry/secrets/static-{uuid.uuid4().hex[:8]}/s"
            api.write(path, b"through the static pod")
        with ApiServer(etcd, socket_path) as restarted:
            assert restarted.read(path) == b"through the static pod"
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}{probe}", timeout=5) as r:
            ready = r.status
        say(f"the apiserver flow works through it (key_id …{key_id[-8:]}); GET {probe} {ready}")
        assert key_id == target["Arn"] and ready == 200
    finally:
        proc.terminate()
        code = proc.wait(timeout=15)
    assert code == 0 and not socket_path.exists(), "SIGTERM: exit 0 and the socket removed"


def test_the_image_user_cannot_bind_in_the_directory_kubelet_creates(kms_aws, tmp_path, host_root, say):
    spec = pod_spec()
    host_dir = directory_as_kubelet_creates(host_root)
    argv = kubelet_argv(spec, host_dir, free_port(), IMAGE_USER, IMAGE_USER)
    proc = run(argv, aws_env(kms_aws), tmp_path / "pod.log")
    code = proc.wait(timeout=20)
    log = (tmp_path / "pod.log").read_text()
    say(f"as uid {IMAGE_USER}: exit {code}, {log.strip().splitlines()[-1][:200]!r}")
    assert code != 0 and "bind" in log and "ermission denied" in log
    assert not (host_dir / "keywarden.sock").exists()
