"""`keywarden-provider seal` and `keywarden-provider check` (docs/reference.md §2.1, §2.4), run as a user would.

`seal` output is opened by the independent implementation (harness/sealer.py)
and mounted by the provider: to S3 (also with SSE-KMS), and to a file used as
inline `ciphertext`, namespace-bound. The plaintext data key is nowhere in what
`seal` writes or prints. `check` validates a SecretProviderClass offline (no
AWS call) with the Mount rules, refuses bad manifests with exit 1 and a
one-line reason, and with `--out` fetches for real into a directory with the
atomic-writer layout, sealed objects and jmesPath fields included, private to the
user (files 0600 or narrower, directories 0700, read with os.stat). Inputs are
bounded before they are read whole (the kernel's rusage of the one command
gives its peak memory): an alias bomb, a 4 MiB manifest, `/dev/zero` to
`check` and to `seal`. Neither command replaces what it did not write: a
Kubernetes volume given to `check --out`, an existing file or a symlink given
to `seal --out` stay byte for byte.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import uuid
from pathlib import Path

import grpc
import pytest

from harness import commands, mounts, sealer, writer
from harness.aws import MotoEndpoint, Seeder
from harness.checks import assert_atomic_layout, assert_mount_fails
from harness.driver import Driver, Pod
from harness.spc import manifest, parameters


MiB = 1024 * 1024


def secret(label: str) -> bytes:
    return f"{label}-{uuid.uuid4().hex}".encode()


def aws_calls(aws: MotoEndpoint, mark: int) -> list[tuple[str, str]]:
    return [(r.service, r.operation) for r in aws.requests.since(mark) if r.service in ("s3", "kms", "sts")]


def test_seal_to_s3_then_mount(driver: Driver, aws: MotoEndpoint, seed: Seeder, kms_key: dict, bucket: str,
                               target, tmp_path: Path, say) -> None:
    value = secret("sealed-by-cli")
    plain = tmp_path / "secret.txt"
    plain.write_bytes(value)
    out = f"s3://{bucket}/sealed/cli.kws"
    mark = aws.requests.mark()
    run = commands.seal(aws.env(), kms_key["KeyId"], out, in_file=plain, context={"app": "web", "env": "e2e"})
    say(f"seal --key {kms_key['KeyId']} --context app=web --context env=e2e --in FILE --out {out}")
    say(f"-> exit {run.returncode}, stdout {run.stdout!r}")
    assert run.returncode == 0, run.describe()
    assert len(run.stdout.strip().splitlines()) == 1, "seal prints one line"
    assert out in run.stdout and kms_key["Arn"] in run.stdout
    assert value.decode() not in run.stdout + run.stderr
    assert sorted(aws_calls(aws, mark)) == [("kms", "GenerateDataKey"), ("s3", "PutObject")], aws_calls(aws, mark)

    blob = seed.s3.get_object(Bucket=bucket, Key="sealed/cli.kws")["Body"].read()
    parsed = sealer.parse(blob)
    say(f"stored {len(blob)} bytes; header {parsed.header_bytes[:90]!r}...")
    assert parsed.header["key"] == kms_key["Arn"], "the header names the key ARN"
    assert parsed.header["ctx"] == {"app": "web", "env": "e2e"}
    assert sealer.open_sealed(seed.kms, blob) == value, "the independent implementation opens seal's output"
    data_key = sealer.data_key(seed.kms, parsed)
    for where, text in (("object", blob), ("stdout", run.stdout.encode()), ("stderr", run.stderr.encode())):
        assert data_key not in text and base64.b64encode(data_key) not in text, f"plaintext data key in {where}"

    result = driver.mount(parameters([{"objectName": out, "objectType": "sealed", "objectAlias": "db/password"}]),
                          target)
    assert result.files["db/password"].contents == value
    assert result.versions[out] in run.stdout, "the VersionId seal printed is the one mounted"
    say("held: one GenerateDataKey + one PutObject; KWS1 per docs/reference.md §2.4; no data key anywhere; Mount opens it")


def test_seal_with_sse_kms_key(driver: Driver, aws: MotoEndpoint, seed: Seeder, kms_key: dict, bucket: str,
                               target, say) -> None:
    value = secret("sse-kms")
    storage_key = seed.kms_key("keywarden e2e bucket key")
    out = f"s3://{bucket}/sealed/sse.kws"
    run = commands.seal(aws.env(), kms_key["Arn"], out, plaintext=value, sse_kms_key=storage_key["KeyId"])
    say(f"seal --in - --out {out} --sse-kms-key {storage_key['KeyId']} -> exit {run.returncode}: {run.stdout.strip()}")
    assert run.returncode == 0, run.describe()
    head = seed.s3.head_object(Bucket=bucket, Key="sealed/sse.kws")
    say(f"HeadObject: ServerSideEncryption={head.get('ServerSideEncryption')} SSEKMSKeyId={head.get('SSEKMSKeyId')}")
    assert head.get("ServerSideEncryption") == "aws:kms"
    assert storage_key["KeyId"] in head.get("SSEKMSKeyId", "")
    result = driver.mount(parameters([{"objectName": out, "objectType": "sealed"}]), target)
    assert result.files["sse.kws"].contents == value
    say("held: stored with SSE-KMS under the bucket key; mounted and opened")


def test_seal_to_file_then_inline_namespace_bound(driver: Driver, aws: MotoEndpoint, seed: Seeder, kms_key: dict,
                                                  target, tmp_path: Path, say) -> None:
    value = secret("gitops")
    out = tmp_path / "token.kws"
    run = commands.seal(aws.env(), kms_key["Arn"], out, plaintext=value, namespace="team-a")
    say(f"seal --namespace team-a --in - --out {out.name} -> exit {run.returncode}: {run.stdout.strip()}")
    assert run.returncode == 0, run.describe()
    blob = out.read_bytes()
    assert value not in blob
    assert sealer.parse(blob).header["ctx"] == {sealer.NAMESPACE_KEY: "team-a"}
    params = parameters([{"ciphertext": base64.b64encode(blob).decode(), "objectType": "sealed",
                          "objectAlias": "token"}])
    result = driver.mount(params, target, pod=Pod(namespace="team-a"))
    assert result.files["token"].contents == value
    say(f"team-a: mounted, versions {result.versions}")
    mounts.clear(target)
    mark = aws.requests.mark()
    assert_mount_fails(driver, params, target, grpc.StatusCode.FAILED_PRECONDITION, mentions=["bound to namespace"],
                       say=say, pod=Pod(namespace="team-b"))
    assert aws.requests.count("kms", mark=mark) == 0
    say("held: base64 of the sealed file works inline; team-b refused with zero KMS calls")


def test_seal_failures(aws: MotoEndpoint, kms_key: dict, tmp_path: Path, say) -> None:
    missing_key = f"arn:aws:kms:us-east-1:123456789012:key/{uuid.uuid4()}"
    cases = [
        ("unknown key", dict(key=missing_key, out=tmp_path / "a.kws", plaintext=b"x"), 1, [missing_key]),
        ("namespace conflicts with context",
         dict(key=kms_key["KeyId"], out=tmp_path / "b.kws", plaintext=b"x", namespace="a",
              context={sealer.NAMESPACE_KEY: "b"}), 1, ["--namespace", "conflicts"]),
        ("missing input file", dict(key=kms_key["KeyId"], out=tmp_path / "c.kws", in_file=tmp_path / "nope"), 1,
         ["nope"]),
    ]
    for what, kw, code, mentions in cases:
        run = commands.seal(aws.env(), **kw)
        say(f"{what}: exit {run.returncode}, stderr {run.stderr.strip()!r}")
        assert run.returncode == code, run.describe()
        assert run.stdout == "", "nothing on stdout on failure"
        assert len(run.stderr.strip().splitlines()) == 1, f"a one-line error: {run.stderr!r}"
        assert all(m in run.stderr for m in mentions), run.stderr
        assert not Path(kw["out"]).exists(), "no output file on failure"


@pytest.mark.parametrize(("args", "missing"), [(["seal", "--key", "k"], "--out"), (["check"], "--spc")],
                         ids=["seal-without-out", "check-without-spc"])
def test_usage_error_names_the_missing_argument(args: list[str], missing: str, aws: MotoEndpoint, say) -> None:
    usage = commands.run(args, aws.env())
    say(f"{' '.join(args)}: exit {usage.returncode}, stderr {usage.stderr!r}")
    assert usage.returncode == 2, usage.describe()
    assert len(usage.stderr.strip().splitlines()) == 1, "a one-line reason"
    assert missing in usage.stderr, f"the reason must name {missing}"


# --- check ------------------------------------------------------------------------------------


def test_check_good_manifest_makes_no_aws_call(aws: MotoEndpoint, bucket: str, tmp_path: Path, say) -> None:
    objects = [
        {"objectName": f"s3://{bucket}/app/db.kws", "objectType": "sealed", "objectAlias": "db/creds.json",
         "filePermission": "0440",
         "jmesPath": [{"path": "password", "objectAlias": "db/password", "filePermission": "0400"}]},
        {"objectName": f"s3://{bucket}/app/plain"},
    ]
    spc = tmp_path / "spc.yaml"
    spc.write_text("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: app}\n---\n"
                   + manifest(objects, name="web-secrets", namespace="shop", region="us-east-1"))
    mark = aws.requests.mark()
    run = commands.check(aws.env(), spc)
    say(f"check --spc (ServiceAccount + SecretProviderClass) -> exit {run.returncode}\n{run.stdout}")
    assert run.returncode == 0, run.describe()
    assert aws_calls(aws, mark) == [], "check without --out makes no AWS call"
    assert "shop/web-secrets" in run.stdout and "2 object(s) valid" in run.stdout
    assert "db/creds.json (0440)" in run.stdout and "plain (0644)" in run.stdout
    assert '"password"' in run.stdout and "db/password (0400)" in run.stdout
    say("held: exit 0, report names namespace/name, every file and mode, and the jmesPath field")


BAD_MANIFESTS = [
    ("wrong-api-version", dict(api_version="secrets-store.csi.x-k8s.io/v2"), None, ["apiVersion"]),
    ("other-provider", dict(provider="aws"), None, ["spec.provider", "keywarden"]),
    ("traversal-alias", {}, [{"objectName": "s3://{b}/k", "objectAlias": "../etc/passwd"}], ["../etc/passwd"]),
    ("unknown-key", {}, [{"objectName": "s3://{b}/k", "objectAlais": "x"}], ["objectAlais"]),
    ("bad-jmespath", {}, [{"objectName": "s3://{b}/k", "jmesPath": [{"path": "a.[", "objectAlias": "a"}]}],
     ["a.["]),
    ("duplicate-alias", {}, [{"objectName": "s3://{b}/x/k"}, {"objectName": "s3://{b}/y/k"}], ["k"]),
    ("context-on-sealed", {}, [{"objectName": "s3://{b}/k", "objectType": "sealed",
                                "encryptionContext": {"a": "b"}}], ["encryptionContext"]),
]


@pytest.mark.parametrize(("case", "kw", "objects", "mentions"), BAD_MANIFESTS, ids=[c[0] for c in BAD_MANIFESTS])
def test_check_bad_manifest(case, kw, objects, mentions, aws: MotoEndpoint, bucket: str, tmp_path: Path, say) -> None:
    objs = json.loads(json.dumps(objects or [{"objectName": "s3://{b}/k"}]).replace("{b}", bucket))
    spc = tmp_path / "spc.yaml"
    spc.write_text(manifest(objs, **kw))
    mark = aws.requests.mark()
    run = commands.check(aws.env(), spc, out=tmp_path / "out")
    say(f"{case}: exit {run.returncode}, stderr {run.stderr.strip()!r}")
    assert run.returncode == 1, run.describe()
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1, f"a one-line error: {run.stderr!r}"
    assert all(m in run.stderr for m in mentions), f"{run.stderr!r} does not name {mentions}"
    assert aws_calls(aws, mark) == [], "an invalid manifest is refused before any AWS call"
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == [], "nothing fetched"


def test_check_not_a_manifest(aws: MotoEndpoint, tmp_path: Path, say) -> None:
    for name, text, mentions in [
        ("no-spc.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", ["no SecretProviderClass"]),
        ("broken.yaml", "kind: [unclosed\n", ["YAML"]),
    ]:
        (tmp_path / name).write_text(text)
        run = commands.check(aws.env(), tmp_path / name)
        say(f"{name}: exit {run.returncode}, stderr {run.stderr.strip()!r}")
        assert run.returncode == 1 and run.stdout == "", run.describe()
        assert all(m in run.stderr for m in mentions), run.stderr
    run = commands.check(aws.env(), tmp_path / "does-not-exist.yaml")
    assert run.returncode == 1 and "does-not-exist.yaml" in run.stderr, run.describe()


def test_check_out_fetches_sealed_and_jmespath(aws: MotoEndpoint, seed: Seeder, kms_key: dict, bucket: str,
                                               tmp_path: Path, say) -> None:
    doc = {"username": "billing", "password": secret("check-out").decode()}
    body = json.dumps(doc).encode()
    put = seed.put(bucket, "app/db.kws", sealer.seal(seed.kms, kms_key["KeyId"], body,
                                                     {sealer.NAMESPACE_KEY: "shop"}))
    seed.put(bucket, "app/plain", b"plain-value")
    objects = [
        {"objectName": f"s3://{bucket}/app/db.kws", "objectType": "sealed", "objectAlias": "db/creds.json",
         "filePermission": "0440",
         "jmesPath": [{"path": "password", "objectAlias": "db/password", "filePermission": "0400"},
                      {"path": "username", "objectAlias": "user"}]},
        {"objectName": f"s3://{bucket}/app/plain"},
    ]
    spc = tmp_path / "spc.yaml"
    spc.write_text(manifest(objects, name="billing", namespace="shop"))
    out = tmp_path / "fetched"
    mark = aws.requests.mark()
    run = commands.check(aws.env(), spc, out=out)
    say(f"check --spc --out {out.name} -> exit {run.returncode}\n{run.stdout}")
    assert run.returncode == 0, run.describe()
    assert doc["password"] not in run.stdout + run.stderr, "the report never shows secret values"
    assert f"s3://{bucket}/app/db.kws version {put['VersionId']}" in run.stdout
    counts = aws.requests.counts(mark)
    assert counts[("kms", "Decrypt")] == 1, counts
    generation = assert_atomic_layout(out)
    got = {p: (c, m) for p, (c, m) in writer.read_visible_files(out).items()}
    say(f"files: { {p: oct(m) for p, (_, m) in got.items()} }")
    # The class asks 0440 and 0644 for pods; on the operator's disk nothing is wider than 0600.
    assert got == {
        "db/creds.json": (body, 0o400),
        "db/password": (doc["password"].encode(), 0o400),
        "user": (b"billing", 0o400),
        "plain": (b"plain-value", 0o600),
    }
    modes = {p: stat.S_IMODE(os.lstat(p).st_mode) for p in (out, out / generation, out / generation / "db")}
    say(f"directories: { {str(p.relative_to(tmp_path)): oct(m) for p, m in modes.items()} }")
    assert set(modes.values()) == {0o700}, "--out (created here), the generation and db/ are the user's alone"
    for path in ("db/creds.json", "db/password", "user", "plain"):
        assert os.stat(out / generation / path).st_mode & 0o077 == 0, path

    other = tmp_path / "other-ns"
    mark = aws.requests.mark()
    refused = commands.check(aws.env(), spc, namespace="web", out=other)
    say(f"check --namespace web -> exit {refused.returncode}, stderr {refused.stderr.strip()!r}")
    assert refused.returncode == 1 and "bound to namespace" in refused.stderr, refused.describe()
    assert aws.requests.count("kms", mark=mark) == 0
    assert not other.exists() or [e for e in os.listdir(other) if not e.startswith("..")] == []
    say("held: sealed + jmesPath fetched with modes and layout; another namespace refused before KMS")


def test_check_out_refuses_a_directory_it_did_not_write(aws: MotoEndpoint, seed: Seeder, bucket: str,
                                                       tmp_path: Path, say) -> None:
    seed.put(bucket, "app/plain", b"plain-value")
    spc = tmp_path / "spc.yaml"
    spc.write_text(manifest([{"objectName": f"s3://{bucket}/app/plain"}], name="plain", namespace="shop"))
    out = tmp_path / "home"
    out.mkdir()
    (out / "notes.txt").write_bytes(b"my notes")
    (out / "plain").write_bytes(b"my own file named like the alias")
    (out / "projects").mkdir()
    (out / "projects" / "keep").write_bytes(b"keep")
    before = writer.tree_paths(out)
    mark = aws.requests.mark()
    run = commands.check(aws.env(), spc, out=out)
    say(f"check --out {out.name} (3 foreign entries) -> exit {run.returncode}, stderr {run.stderr.strip()!r}")
    assert run.returncode == 1 and run.stdout == "", run.describe()
    assert len(run.stderr.strip().splitlines()) == 1, f"a one-line error: {run.stderr!r}"
    assert f"--out: target path \"{out}\": is not empty and has no ..data" in run.stderr, run.stderr
    assert aws_calls(aws, mark) == [], "refused before any AWS call"
    assert writer.tree_paths(out) == before, "no entry added or removed"
    assert (out / "notes.txt").read_bytes() == b"my notes"
    assert (out / "plain").read_bytes() == b"my own file named like the alias"
    assert (out / "projects" / "keep").read_bytes() == b"keep"
    say("held: refused with the directory named, before AWS, every file intact")

    fresh = tmp_path / "fetched"
    for round_ in ("first", "again"):
        run = commands.check(aws.env(), spc, out=fresh)
        assert run.returncode == 0, run.describe()
        ts = assert_atomic_layout(fresh)
        assert (fresh / "plain").read_bytes() == b"plain-value"
        say(f"{round_} check --out {fresh.name} -> exit 0, ..data -> {ts}")
    (fresh / "notes.txt").write_bytes(b"added later")
    seed.put(bucket, "app/plain", b"plain-value-2")
    run = commands.check(aws.env(), spc, out=fresh)
    assert run.returncode == 0, run.describe()
    assert (fresh / "plain").read_bytes() == b"plain-value-2"
    assert (fresh / "notes.txt").read_bytes() == b"added later", "a foreign file next to ..data stays"
    assert writer.generations(fresh) == [os.readlink(fresh / "..data")], "one generation, nothing left over"
    say("held: a directory check --out wrote is rewritten; a file added there later is kept")


def tree_snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under `root`, not following links: kind, mode, and a link's target or a file's bytes."""
    found: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = os.lstat(path)
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                found[rel] = ("file", stat.S_IMODE(st.st_mode), path.read_bytes())
    return found


def test_check_out_refuses_a_kubernetes_volume_and_keeps_it(aws: MotoEndpoint, seed: Seeder, bucket: str,
                                                            tmp_path: Path, say) -> None:
    seed.put(bucket, "app/app.conf", b"fetched-value")
    spc = tmp_path / "spc.yaml"
    spc.write_text(manifest([{"objectName": f"s3://{bucket}/app/app.conf"}], name="app", namespace="shop"))
    # Exactly what kubelet's AtomicWriter leaves for a ConfigMap volume with one key.
    out = tmp_path / "configmap-volume"
    generation = "..2024_05_01_10_20_30.123"
    (out / generation).mkdir(parents=True)
    (out / generation / "app.conf").write_bytes(b"the user's own config\n")
    os.symlink(generation, out / "..data")
    os.symlink("..data/app.conf", out / "app.conf")
    before = tree_snapshot(out)
    mark = aws.requests.mark()
    run = commands.check(aws.env(), spc, out=out)
    say(f"check --out {out.name} (kubelet layout) -> exit {run.returncode}, stderr {run.stderr.strip()!r}")
    assert run.returncode == 1 and run.stdout == "", run.describe()
    assert len(run.stderr.strip().splitlines()) == 1, f"a one-line error: {run.stderr!r}"
    assert f'--out: target path "{out}": ..data points to "{generation}", a generation this writer did not make' \
        in run.stderr, run.stderr
    assert aws_calls(aws, mark) == [], "refused before any AWS call"
    assert tree_snapshot(out) == before, "every file, link and target as it was, byte for byte"
    assert (out / "app.conf").read_bytes() == b"the user's own config\n"
    say(f"held: refused naming ..data's target, no AWS call, {len(before)} entries unchanged")


def alias_bomb(n: int) -> str:
    """One anchor of `n` scalars and `n` aliases of it: n² scalars once expanded."""
    return ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n  anchor: &a [" + "x," * n + "]\n"
            + "  many:\n" + "    - *a\n" * n)


def test_check_refuses_yaml_aliases_before_expanding_them(aws: MotoEndpoint, bucket: str, tmp_path: Path,
                                                          say) -> None:
    spc = tmp_path / "bomb.yaml"
    spc.write_text(alias_bomb(12_000) + "---\n" + manifest([{"objectName": f"s3://{bucket}/k"}]))
    run, peak = commands.run_measured(["check", "--spc", str(spc)], aws.env())
    say(f"{spc.stat().st_size} bytes, 12,000 aliases of 12,000 scalars -> exit {run.returncode}, "
        f"peak RSS {peak / MiB:.0f} MiB, stderr {run.stderr.strip()!r}")
    assert run.returncode == 1 and run.stdout == "", run.describe()
    assert len(run.stderr.strip().splitlines()) == 1, f"a one-line error: {run.stderr!r}"
    assert "the manifest's YAML is refused: uses a YAML anchor (&), which is not allowed (line 5" in run.stderr, \
        run.stderr
    # Expanded, the aliases are 144 million scalars: gigabytes.
    assert peak < 64 * MiB, f"peak RSS {peak / MiB:.0f} MiB"
    say("held: refused at the anchor, before any alias was expanded")


def test_check_reads_no_more_than_the_manifest_limit(aws: MotoEndpoint, bucket: str, tmp_path: Path,
                                                     say) -> None:
    big = tmp_path / "big.yaml"
    # A valid manifest, padded past 4 MiB with a comment.
    big.write_text(manifest([{"objectName": f"s3://{bucket}/k"}]) + "# " + "x" * (4 * MiB) + "\n")
    run = commands.check(aws.env(), big)
    say(f"{big.stat().st_size} bytes -> exit {run.returncode}, stderr {run.stderr.strip()!r}")
    assert run.returncode == 1 and run.stdout == "", run.describe()
    assert f"{big} is larger than 4194304 bytes (MAX_MANIFEST_BYTES): split it" in run.stderr, run.stderr
    # Endless input: read whole, it would never end.
    run, peak = commands.run_measured(["check", "--spc", "/dev/zero"], aws.env())
    say(f"--spc /dev/zero -> exit {run.returncode}, peak RSS {peak / MiB:.0f} MiB, stderr {run.stderr.strip()!r}")
    assert run.returncode == 1, run.describe()
    assert "/dev/zero is larger than 4194304 bytes (MAX_MANIFEST_BYTES): split it" in run.stderr, run.stderr
    assert peak < 64 * MiB, f"peak RSS {peak / MiB:.0f} MiB"
    say("held: both refused naming the limit; /dev/zero read only to the limit")


def test_seal_input_is_bounded(aws: MotoEndpoint, kms_key: dict, tmp_path: Path, say) -> None:
    out = tmp_path / "zero.kws"
    mark = aws.requests.mark()
    run, peak = commands.run_measured(["seal", "--key", kms_key["KeyId"], "--in", "/dev/zero", "--out", str(out)],
                                      aws.env())
    say(f"seal --in /dev/zero -> exit {run.returncode}, peak RSS {peak / MiB:.0f} MiB, "
        f"stderr {run.stderr.strip()!r}")
    assert run.returncode == 1 and run.stdout == "", run.describe()
    assert "the plaintext from /dev/zero is larger than 1048576 bytes (--max-object-bytes)" in run.stderr, run.stderr
    assert aws_calls(aws, mark) == [], "refused before KMS"
    assert not out.exists()
    assert peak < 64 * MiB, f"peak RSS {peak / MiB:.0f} MiB"
    run = commands.seal(aws.env(), kms_key["KeyId"], out, plaintext=b"x" * (MiB + 1))
    assert run.returncode == 1 and "larger than 1048576 bytes" in run.stderr, run.describe()
    run = commands.seal(aws.env(), kms_key["KeyId"], out, plaintext=b"x" * 2000, extra=["--max-object-bytes", "1000"])
    assert run.returncode == 1 and "larger than 1000 bytes" in run.stderr, run.describe()
    assert not out.exists()
    say("held: input over the object limit refused naming it, before any KMS call, nothing written")


def test_seal_never_replaces_or_follows_without_force(aws: MotoEndpoint, seed: Seeder, kms_key: dict,
                                                      tmp_path: Path, say) -> None:
    existing = tmp_path / "existing.kws"
    existing.write_bytes(b"an earlier sealed object")
    victim = tmp_path / "victim"
    victim.write_bytes(b"a file the link points to")
    link = tmp_path / "link.kws"
    os.symlink(victim, link)
    dangling = tmp_path / "dangling.kws"
    os.symlink(tmp_path / "nowhere", dangling)
    before = tree_snapshot(tmp_path)
    mark = aws.requests.mark()
    for out in (existing, link, dangling):
        run = commands.seal(aws.env(), kms_key["KeyId"], out, plaintext=b"new secret")
        say(f"seal --out {out.name} -> exit {run.returncode}, stderr {run.stderr.strip()!r}")
        assert run.returncode == 1 and run.stdout == "", run.describe()
        assert f"{out} already exists" in run.stderr and "--force" in run.stderr, run.stderr
    assert aws_calls(aws, mark) == [], "refused before KMS"
    assert tree_snapshot(tmp_path) == before, "nothing replaced, nothing created through a link"

    value = secret("forced")
    for out in (existing, link):
        run = commands.seal(aws.env(), kms_key["KeyId"], out, plaintext=value, extra=["--force"])
        assert run.returncode == 0, run.describe()
        assert not out.is_symlink() and sealer.open_sealed(seed.kms, out.read_bytes()) == value
    assert victim.read_bytes() == b"a file the link points to", "--force replaces the link, not its target"
    assert sorted(os.listdir(tmp_path)) == ["dangling.kws", "existing.kws", "link.kws", "victim"], \
        "no temporary file left"
    say("held: an existing file, a symlink and a dangling symlink are left alone; --force replaces the entry itself")
