"""Every object type in one Mount, in both write modes, and `--write-mode provider` itself (docs/reference.md §2.6).

`--write-mode driver` returns the files and the driver-like client writes them
with the Kubernetes atomic writer; `--write-mode provider` writes them into the
request's target path itself and returns no files but the same versions (the
client then writes nothing, as the real driver does with an empty file list).
Either way the pod sees the same tree. Provider mode refuses targets that are
not tmpfs (unless --allow-non-tmpfs) and symlinked targets, removes stale
files when the set changes, does not rewrite an unchanged set, keeps the old
set when a re-Mount fails, and never writes through symlinks out of the target.
No secret value ever reaches the provider's log.

The writer touches only what it created (docs/security-model.md, "The
provider's file writer"), checked here by reading the filesystem itself: a
planted `..data` leading out of the target is refused and nothing outside is
read (access times), listed, written or removed; a target holding foreign
files is refused and they stay; a foreign entry next to `..data` is neither
removed nor replaced; a write stopped by the Mount's deadline (while another
writer holds the target's lock, or because the endpoint is slow) leaves no
generation and no plaintext behind; a target unmounted during the fetch is
refused at write time (tmpfs is checked again right before writing).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from harness import mounts, sealer, writer
from harness.aws import MotoEndpoint, Seeder
from harness.checks import (
    assert_atomic_layout,
    assert_mount_fails,
    assert_still_serves,
    assert_written_by,
    wait_until,
)
from harness.driver import Driver, MountFailed, Pod
from harness.fault_fixtures import proxy, proxy_to, start_proxied  # noqa: F401
from harness.fault_proxy import Fault, FaultProxy
from harness.spc import parameters
from harness.troubleshooting import assert_documented


def secret(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex}"


@dataclass
class World:
    """Objects of every type, and what the pod must see."""

    objects: list[dict] = field(default_factory=list)
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)


def every_type(seed: Seeder, kms_key: dict, bucket: str) -> World:
    w = World()
    key = kms_key["KeyId"]

    def add(spec: dict, alias: str, value: bytes, mode: int, vid: str, version: str) -> None:
        w.objects.append(spec)
        w.files[alias] = (value, mode)
        w.versions[vid] = version

    plain = secret("plain").encode()
    put = seed.put(bucket, "plain/username", plain)
    add({"objectName": f"s3://{bucket}/plain/username"}, "username", plain, 0o644,
        f"s3://{bucket}/plain/username", put["VersionId"])

    kms_bin = secret("kms-binary").encode()
    put = seed.put(bucket, "kms/binary", seed.kms.encrypt(KeyId=key, Plaintext=kms_bin)["CiphertextBlob"])
    add({"objectName": f"s3://{bucket}/kms/binary", "objectType": "kms", "objectAlias": "kms/binary",
         "filePermission": "0400"}, "kms/binary", kms_bin, 0o400, f"s3://{bucket}/kms/binary", put["VersionId"])

    kms_b64 = secret("kms-base64").encode()
    blob = seed.kms.encrypt(KeyId=key, Plaintext=kms_b64)["CiphertextBlob"]
    put = seed.put(bucket, "kms/base64", base64.b64encode(blob) + b"\n")
    add({"objectName": f"s3://{bucket}/kms/base64", "objectType": "kms", "objectAlias": "kms/base64"},
        "kms/base64", kms_b64, 0o644, f"s3://{bucket}/kms/base64", put["VersionId"])

    kms_inline = secret("kms-inline").encode()
    blob = seed.kms.encrypt(KeyId=key, Plaintext=kms_inline, EncryptionContext={"app": "web"})["CiphertextBlob"]
    add({"ciphertext": base64.b64encode(blob).decode(), "objectType": "kms", "objectAlias": "kms-inline",
         "encryptionContext": {"app": "web"}, "filePermission": "0440"},
        "kms-inline", kms_inline, 0o440, "inline:kms-inline", hashlib.sha256(blob).hexdigest()[:16])

    sealed_s3 = secret("sealed-s3").encode()
    put = seed.put(bucket, "sealed/s3.kws", sealer.seal(seed.kms, key, sealed_s3, {"app": "web"}))
    add({"objectName": f"s3://{bucket}/sealed/s3.kws", "objectType": "sealed", "objectAlias": "sealed/s3",
         "filePermission": "0400"}, "sealed/s3", sealed_s3, 0o400, f"s3://{bucket}/sealed/s3.kws", put["VersionId"])

    sealed_inline = secret("sealed-inline").encode()
    blob = sealer.seal(seed.kms, key, sealed_inline, {sealer.NAMESPACE_KEY: "default"})
    add({"ciphertext": sealer.b64(blob), "objectType": "sealed", "objectAlias": "sealed-inline"},
        "sealed-inline", sealed_inline, 0o644, "inline:sealed-inline", hashlib.sha256(blob).hexdigest()[:16])

    doc = {"database": {"user": "orders_rw", "password": secret("jmes-password")}, "port": 5432}
    body = json.dumps(doc).encode()
    put = seed.put(bucket, "sealed/app.kws", sealer.seal(seed.kms, key, body))
    w.objects.append({
        "objectName": f"s3://{bucket}/sealed/app.kws", "objectType": "sealed", "objectAlias": "app/config.json",
        "filePermission": "0640",
        "jmesPath": [
            {"path": "database.password", "objectAlias": "app/db-password", "filePermission": "0400"},
            {"path": "database.user", "objectAlias": "app-user"},
        ],
    })
    w.files["app/config.json"] = (body, 0o640)
    w.files["app/db-password"] = (doc["database"]["password"].encode(), 0o400)
    w.files["app-user"] = (b"orders_rw", 0o640)
    w.versions[f"s3://{bucket}/sealed/app.kws"] = put["VersionId"]

    w.secrets = [v.decode() for v, _ in w.files.values() if v != b"orders_rw"] + [doc["database"]["password"]]
    return w


def test_every_object_type_in_one_mount(mode_driver: Driver, write_mode: str, aws: MotoEndpoint, seed: Seeder,
                                        kms_key: dict, bucket: str, target, say) -> None:
    world = every_type(seed, kms_key, bucket)
    say(f"[{write_mode}] {len(world.objects)} objects: s3, kms (S3 binary, S3 base64, inline), "
        "sealed (S3, inline, JSON with 2 jmesPath fields)")
    mark = aws.requests.mark()
    result = mode_driver.mount(parameters(world.objects), target)
    counts = aws.requests.counts(mark)
    got = {p: (f.contents, f.mode) for p, f in result.files.items()}
    say(f"files: { {p: oct(m) for p, (_, m) in got.items()} }")
    say(f"calls: {dict(counts)}")
    assert got == world.files, {p: oct(m) for p, (_, m) in got.items()}
    assert result.versions == world.versions
    assert len(result.response.object_version) == len(world.objects), "one version per object"
    assert counts[("kms", "Decrypt")] == 6, "one Decrypt per kms/sealed object"
    assert_written_by(write_mode, result)
    if write_mode == "driver":
        assert {f.path: f.mode for f in result.response.files} == {p: m for p, (_, m) in world.files.items()}
    say("held: the pod sees every file with its mode; versions as specified")


# --- provider write mode ------------------------------------------------------------------


def test_non_tmpfs_target_refused_unless_allowed(provider_mode, aws: MotoEndpoint, seed: Seeder, bucket: str,
                                                 target, say) -> None:
    value = secret("tmpfs-only").encode()
    seed.put(bucket, "k", value)
    params = parameters([{"objectName": f"s3://{bucket}/k"}])
    plain = Path(tempfile.mkdtemp(prefix="keywarden-plain-target-"))
    try:
        assert not mounts.is_tmpfs(plain)
        with provider_mode() as d:
            say(f"--write-mode provider, target {plain} on {os.statvfs(plain).f_fsid:#x} (not tmpfs)")
            mark = aws.requests.mark()
            assert_mount_fails(d, params, plain, grpc.StatusCode.FAILED_PRECONDITION,
                               mentions=["is not a tmpfs mount"], say=say)
            calls = [(r.service, r.operation) for r in aws.requests.since(mark)]
            assert calls == [], f"the target is checked before fetching anything: {calls}"
            assert mounts.is_tmpfs(target)
            assert d.mount(params, target).files["k"].contents == value
            say("the same provider writes into a tmpfs target")
        with provider_mode("--allow-non-tmpfs") as d:
            result = d.mount(params, plain)
            assert result.files["k"].contents == value
            assert_atomic_layout(plain)
            say("with --allow-non-tmpfs it writes into the plain directory")
    finally:
        shutil.rmtree(plain, ignore_errors=True)


def test_symlinked_or_unclean_target_refused(provider_mode, seed: Seeder, bucket: str, target, say) -> None:
    seed.put(bucket, "k", b"v")
    params = parameters([{"objectName": f"s3://{bucket}/k"}])
    link_dir = Path(tempfile.mkdtemp(prefix="keywarden-link-"))
    try:
        link = link_dir / "target"
        link.symlink_to(target)
        with provider_mode() as d:
            say(f"target_path {link} is a symlink to the tmpfs {target}")
            try:
                d.mount(params, link)
            except MountFailed as e:
                say(f"-> {e.code.name if e.code else e.reason}: {e.details!r}")
                assert e.code == grpc.StatusCode.FAILED_PRECONDITION, e
                assert "symlink" in e.details
            else:
                raise AssertionError("the provider wrote through a symlinked target path")
            assert os.listdir(target) == [], "nothing was written through the symlink"
            unclean = f"{target}/../{target.name}"
            say(f"target_path {unclean!r} (not clean)")
            try:
                d.mount(params, unclean)
            except MountFailed as e:
                say(f"-> {e.code.name if e.code else e.reason}: {e.details!r}")
                assert e.code == grpc.StatusCode.INVALID_ARGUMENT and "clean" in e.details, e
            else:
                raise AssertionError("an unclean target path was accepted")
            assert os.listdir(target) == []
            assert_still_serves(d, seed, bucket, target, say)
    finally:
        shutil.rmtree(link_dir, ignore_errors=True)


def test_changed_set_removes_stale_files(provider_mode, seed: Seeder, bucket: str, target, say) -> None:
    for key in ("a", "b", "c"):
        seed.put(bucket, key, f"value-{key}".encode())
    first = [{"objectName": f"s3://{bucket}/a"}, {"objectName": f"s3://{bucket}/b", "objectAlias": "dir/b"}]
    second = [{"objectName": f"s3://{bucket}/a"}, {"objectName": f"s3://{bucket}/c"}]
    with provider_mode() as d:
        one = d.mount(parameters(first), target)
        ts1 = assert_atomic_layout(target)
        say(f"first set {sorted(one.files)} in {ts1}")
        two = d.mount(parameters(second), target)
        ts2 = assert_atomic_layout(target)
        say(f"second set {sorted(two.files)} in {ts2}; entries {sorted(os.listdir(target))}")
    assert set(one.files) == {"a", "dir/b"}
    assert {p: f.contents for p, f in two.files.items()} == {"a": b"value-a", "c": b"value-c"}
    assert ts2 != ts1, "a changed set is written into a new timestamped dir"
    assert not os.path.lexists(target / "dir"), "the stale top-level entry is removed"
    assert not os.path.lexists(target / ts1), "the old timestamped dir is removed"
    say("held: dir/b gone, old dir gone, layout clean")


def test_unchanged_set_not_rewritten(provider_mode, seed: Seeder, bucket: str, target, say) -> None:
    seed.put(bucket, "a", b"value-a")
    seed.put(bucket, "b", b"value-b")
    params = parameters([{"objectName": f"s3://{bucket}/a", "filePermission": "0400"},
                         {"objectName": f"s3://{bucket}/b", "objectAlias": "x/b"}])
    with provider_mode() as d:
        d.mount(params, target)
        ts1 = assert_atomic_layout(target)
        before = {p: os.stat(target / ts1 / p).st_ino for p in ("a", "x/b")}
        again = d.mount(params, target)
        ts2 = assert_atomic_layout(target)
        after = {p: os.stat(target / ts2 / p).st_ino for p in ("a", "x/b")}
        say(f"..data -> {ts1}, then -> {ts2}; inodes {before} / {after}")
        assert again.versions and len(again.response.files) == 0
        assert ts2 == ts1, "an unchanged set must not be rewritten"
        assert after == before
        seed.put(bucket, "b", b"value-b2")
        changed = d.mount(params, target)
        ts3 = assert_atomic_layout(target)
    assert ts3 != ts1 and changed.files["x/b"].contents == b"value-b2"
    assert changed.files["a"].mode == 0o400
    say(f"held: unchanged re-Mount kept {ts1}; changed content moved ..data to {ts3}")


def test_failed_remount_keeps_previous_files(provider_mode, seed: Seeder, bucket: str, target, say) -> None:
    seed.put(bucket, "a", b"value-a")
    with provider_mode() as d:
        d.mount(parameters([{"objectName": f"s3://{bucket}/a"}]), target)
        ts = assert_atomic_layout(target)
        say("re-Mount with a second object that does not exist")
        try:
            d.mount(parameters([{"objectName": f"s3://{bucket}/a"}, {"objectName": f"s3://{bucket}/missing"}]),
                    target)
        except MountFailed as e:
            say(f"-> {e.code.name if e.code else e.reason}: {e.details!r}")
            assert e.code == grpc.StatusCode.NOT_FOUND, e
        else:
            raise AssertionError("a Mount with a missing object succeeded")
    assert assert_atomic_layout(target) == ts, "the previous set stays in place"
    assert {p: c for p, (c, _) in writer.read_visible_files(target).items()} == {"a": b"value-a"}
    say("held: never a partial set; the pod keeps the previous files")


def assert_refused(d: Driver, params: dict[str, str], target: Path, code: grpc.StatusCode, mention: str,
                   say) -> None:
    """The Mount fails with `code` and a message naming `mention` (the target is not empty here,
    so harness.checks.assert_mount_fails, which also wants it empty, does not fit)."""
    try:
        result = d.mount(params, target)
    except MountFailed as e:
        say(f"-> {e.code.name if e.code else e.reason}: {e.details!r}")
        assert e.reason == "GRPCProviderError" and e.code == code, e
        assert mention in e.details, f"{e.details!r} does not name {mention!r}"
        assert_documented(code.name, e.details)
    else:
        raise AssertionError(f"Mount succeeded, expected {code.name}; files: {sorted(result.files)}")


OUTSIDE_GENERATION = "..1700000000.000000000.deadbeef"  # a name the writer could have made


def plant_data_link(case: str, target: Path, outside: Path) -> str:
    """Plant a `..data` in `target` that leads to `outside`; returns what it points to."""
    if case == "absolute":
        points_to = str(outside / OUTSIDE_GENERATION)
    elif case == "relative":
        points_to = os.path.relpath(outside / OUTSIDE_GENERATION, target)
    else:  # a sibling with a generation's name that is itself a symlink out of the target
        sibling = "..1700000001.000000000.deadbeef"
        os.symlink(outside / OUTSIDE_GENERATION, target / sibling)
        points_to = sibling
    os.symlink(points_to, target / "..data")
    os.symlink("..data/a", target / "a")
    os.symlink(outside / OUTSIDE_GENERATION / "keep", target / "..data_tmp")
    return points_to


@pytest.mark.parametrize("case", ["absolute", "relative", "symlinked-generation"])
def test_planted_data_link_out_of_target_is_refused(case: str, provider_mode, aws: MotoEndpoint, seed: Seeder,
                                                   bucket: str, target, say) -> None:
    value = secret("planted").encode()
    seed.put(bucket, "a", value)
    with mounts.target_path() as outside:
        gen = outside / OUTSIDE_GENERATION
        gen.mkdir()
        (gen / "a").write_bytes(b"outside-a")
        (gen / "keep").write_bytes(b"outside-keep")
        points_to = plant_data_link(case, target, outside)
        paths = writer.tree_paths(outside)
        writer.age(outside, paths)
        aged = writer.atimes(outside, paths)
        say(f"[{case}] planted ..data -> {points_to}, a -> ..data/a, ..data_tmp -> {gen}/keep; "
            f"{len(paths)} entries outside, atimes set to 2001")
        with provider_mode() as d:
            mark = aws.requests.mark()
            assert_refused(d, parameters([{"objectName": f"s3://{bucket}/a"}]), target,
                           grpc.StatusCode.FAILED_PRECONDITION, "..data", say)
            assert aws.requests.since(mark) == [], "refused before anything was fetched"
        # Oracle: the filesystem. Atimes first (lstat only), then listings and contents.
        assert writer.atimes(outside, paths) == aged, "something outside the target was read or listed"
        assert writer.tree_paths(outside) == paths, "an entry outside the target was added or removed"
        assert (gen / "a").read_bytes() == b"outside-a" and (gen / "keep").read_bytes() == b"outside-keep"
        assert os.readlink(target / "..data") == points_to, "the planted link is left as it was"
        assert writer.files_containing(target, value) == [] and writer.files_containing(outside, value) == []
    say("held: refused before fetching; nothing outside read, listed, written or removed")


def test_foreign_files_in_target_are_refused_and_kept(provider_mode, aws: MotoEndpoint, seed: Seeder, bucket: str,
                                                      target, say) -> None:
    seed.put(bucket, "a", b"value-a")
    (target / "notes.txt").write_bytes(b"not the writer's")
    (target / "a").mkdir()
    (target / "a" / "keep").write_bytes(b"keep")
    before = writer.tree_paths(target)
    with provider_mode() as d:
        say(f"tmpfs target holding {before} and no ..data; Mount of an object with alias 'a'")
        mark = aws.requests.mark()
        assert_refused(d, parameters([{"objectName": f"s3://{bucket}/a"}]), target,
                       grpc.StatusCode.FAILED_PRECONDITION, f"target path \"{target}\": is not empty and has no ..data", say)
        assert aws.requests.since(mark) == [], "refused before anything was fetched"
        assert writer.tree_paths(target) == before
        assert (target / "notes.txt").read_bytes() == b"not the writer's"
        assert (target / "a" / "keep").read_bytes() == b"keep"
        say("held: refused, every foreign entry intact")

        mounts.clear(target)
        seed.put(bucket, "b", b"value-b")
        d.mount(parameters([{"objectName": f"s3://{bucket}/a"}, {"objectName": f"s3://{bucket}/b"}]), target)
        ts = assert_atomic_layout(target)
        (target / "notes.txt").write_bytes(b"not the writer's")
        os.unlink(target / "b")
        (target / "b").write_bytes(b"foreign b")  # not the writer's link any more
        say("after a good Mount: planted notes.txt and replaced the link b with a regular file")
        seed.put(bucket, "a", b"value-a2")
        d.mount(parameters([{"objectName": f"s3://{bucket}/a"}]), target)
        assert (target / "notes.txt").read_bytes() == b"not the writer's", "a foreign file next to ..data stays"
        assert not os.path.islink(target / "b") and (target / "b").read_bytes() == b"foreign b", \
            "an entry the writer did not create is not removed"
        assert (target / "a").read_bytes() == b"value-a2"
        data = os.readlink(target / "..data")
        assert data != ts and writer.generations(target) == [data], "old generation removed, no other left"
        say("held: re-Mount without b kept notes.txt and the foreign b, removed only its own generation")

        assert_refused(d, parameters([{"objectName": f"s3://{bucket}/b"}]), target,
                       grpc.StatusCode.FAILED_PRECONDITION, 'entry "b" was not created by the writer', say)
        assert os.readlink(target / "..data") == data and writer.generations(target) == [data]
        assert writer.files_containing(target, b"value-b") == [], "no generation with b's value was left"
        assert (target / "b").read_bytes() == b"foreign b"
    say("held: a Mount that needs a foreign entry's name is refused and changes nothing")


def test_write_stopped_by_the_mount_deadline_leaves_nothing(provider_mode, seed: Seeder, bucket: str, target,
                                                            say) -> None:
    seed.put(bucket, "a", b"value-a1")
    params = parameters([{"objectName": f"s3://{bucket}/a", "objectAlias": "dir/a"}])
    timeout = 2.0
    with provider_mode("--mount-timeout", f"{timeout:g}s") as d:
        d.mount(params, target)
        ts = assert_atomic_layout(target)
        value = secret("deadline").encode()
        seed.put(bucket, "a", value)
        fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            say(f"holding the writers' flock on {target}; --mount-timeout {timeout:g}s")
            started = time.monotonic()
            assert_refused(d, params, target, grpc.StatusCode.DEADLINE_EXCEEDED, f"{timeout:g}s", say)
            say(f"failed after {time.monotonic() - started:.2f}s; keeping the lock 1s more, then releasing it")
            time.sleep(1.0)
        finally:
            os.close(fd)  # releases the lock
        time.sleep(1.0)  # a writer that did not stop would write now
        say(f"entries after release: {sorted(os.listdir(target))}")
        assert writer.generations(target) == [ts], "no new generation was created or left"
        assert os.readlink(target / "..data") == ts
        assert writer.files_containing(target, value) == [], "the new plaintext was written after the deadline"
        assert (target / "dir" / "a").read_bytes() == b"value-a1"
        assert d.mount(params, target).files["dir/a"].contents == value, "the lock is free, the next Mount writes"
    say("held: the stopped write wrote nothing, even once the lock was free; the next Mount did")


def test_slow_endpoint_deadline_leaves_previous_files(start_proxied, proxy: FaultProxy, seed: Seeder, bucket: str,
                                                      target, say) -> None:
    seed.put(bucket, "a", b"value-a1")
    params = parameters([{"objectName": f"s3://{bucket}/a"}])
    provider = start_proxied(["--write-mode", "provider", "--mount-timeout", "2s"])
    with Driver(provider.socket_path) as d:
        d.mount(params, target)
        ts = assert_atomic_layout(target)
        value = secret("slow").encode()
        seed.put(bucket, "a", value)
        proxy.inject(Fault("delay", seconds=4, service="s3", operation="GetObject"))
        say("every S3 GetObject held for 4s; --mount-timeout 2s")
        assert_refused(d, params, target, grpc.StatusCode.DEADLINE_EXCEEDED, "2s", say)
        time.sleep(3.0)  # the held answer arrives meanwhile
        assert writer.generations(target) == [ts] and os.readlink(target / "..data") == ts
        assert writer.files_containing(target, value) == [], "plaintext written after the deadline"
        assert (target / "a").read_bytes() == b"value-a1"
        proxy.clear()
        assert d.mount(params, target).files["a"].contents == value
    say("held: after the deadline only the previous generation is there; the next Mount writes the new value")


def test_tmpfs_checked_again_right_before_writing(start_proxied, proxy: FaultProxy, seed: Seeder, bucket: str,
                                                  target, say) -> None:
    assert mounts.is_tmpfs(target), "this test needs a real tmpfs target"
    value = secret("unmounted").encode()
    seed.put(bucket, "a", value)
    provider = start_proxied(["--write-mode", "provider", "--mount-timeout", "20s"])
    with Driver(provider.socket_path) as d, ThreadPoolExecutor(1) as pool:
        proxy.inject(Fault("delay", seconds=2, service="s3", operation="GetObject"))
        mark = proxy.mark()
        pending = pool.submit(d.mount, parameters([{"objectName": f"s3://{bucket}/a"}]), target)
        wait_until(lambda: proxy.count("s3", "GetObject", "delay", mark), 10, "the GetObject reached the proxy")
        subprocess.run(["umount", str(target)], check=True)
        say(f"target was tmpfs when the Mount began; unmounted while S3 answered slowly; "
            f"now tmpfs: {mounts.is_tmpfs(target)}")
        try:
            pending.result(timeout=30)
        except MountFailed as e:
            say(f"-> {e.code.name if e.code else e.reason}: {e.details!r}")
            assert e.code == grpc.StatusCode.FAILED_PRECONDITION and "is not a tmpfs mount" in e.details, e
        else:
            raise AssertionError("the provider wrote into a target that is no longer tmpfs")
    assert os.listdir(target) == [], "nothing reached the directory under the former mount"
    assert writer.files_containing(target.parent, value) == []
    say("held: refused at write time; no plaintext on the persistent directory")


# --- logs -----------------------------------------------------------------------------------


def test_no_secret_values_in_provider_log(mode_provider, mode_driver: Driver, write_mode: str, seed: Seeder,
                                          kms_key: dict, bucket: str, target, say) -> None:
    world = every_type(seed, kms_key, bucket)
    result = mode_driver.mount(parameters(world.objects), target)
    assert {p: f.contents for p, f in result.files.items()} == {p: c for p, (c, _) in world.files.items()}
    mounts.clear(target)
    # Failures log errors; they must not leak either.
    ctx_secret = secret("ctx-mismatch").encode()
    blob = seed.kms.encrypt(KeyId=kms_key["KeyId"], Plaintext=ctx_secret, EncryptionContext={"app": "web"})
    bad_ctx = {"ciphertext": base64.b64encode(blob["CiphertextBlob"]).decode(), "objectType": "kms",
               "objectAlias": "x", "encryptionContext": {"app": "other"}}
    tampered_secret = secret("tampered").encode()
    tampered = sealer.flip_ciphertext_byte(sealer.seal(seed.kms, kms_key["KeyId"], tampered_secret), 3)
    jmes_secret = secret("jmes-neighbour")
    seed.put(bucket, "doc.json", json.dumps({"secret": jmes_secret, "n": 1}).encode())
    bound_secret = secret("bound").encode()
    bound = sealer.seal(seed.kms, kms_key["KeyId"], bound_secret, {sealer.NAMESPACE_KEY: "team-a"})
    failing = [
        [bad_ctx],
        [{"ciphertext": sealer.b64(tampered), "objectType": "sealed", "objectAlias": "t"}],
        [{"objectName": f"s3://{bucket}/doc.json", "jmesPath": [{"path": "n", "objectAlias": "n"}]}],
        [{"ciphertext": sealer.b64(bound), "objectType": "sealed", "objectAlias": "b"}],
    ]
    for objects in failing:
        try:
            mode_driver.mount(parameters(objects), target, pod=Pod(namespace="team-b"))
        except MountFailed as e:
            say(f"expected failure: {e.code.name if e.code else e.reason}: {e.details[:100]!r}")
        else:
            raise AssertionError(f"Mount of {objects} succeeded")
    log = mode_provider.log_text()
    values = world.secrets + [ctx_secret.decode(), tampered_secret.decode(), jmes_secret, bound_secret.decode()]
    say(f"[{write_mode}] provider log: {len(log.splitlines())} lines; looking for {len(values)} secret values")
    assert log.strip(), "the provider logged nothing"
    for v in values:
        assert v not in log, f"secret value {v[:12]}… appears in the provider log"
        assert base64.b64encode(v.encode()).decode()[:24] not in log, "a secret's base64 appears in the log"
    say("held: no plaintext (nor its base64) in the log, across successes and failures")
