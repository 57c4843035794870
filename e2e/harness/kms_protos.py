"""Python stubs for the KMS plugin protocols, generated from the suite's own protos.

The suite plays kube-apiserver, so it speaks from its copies of the upstream
definitions (e2e/proto/kms/v2, e2e/proto/kms/v1beta1) and of the apiserver's
stored form (e2e/proto/kms/storage), not from the project's proto/ crate.
Stubs are generated once per process with grpc_tools.protoc (no system
protoc) into a temporary directory removed at exit, as harness/protos.py does
for the CSI protocol; nothing generated is committed.
"""

from __future__ import annotations

import atexit
import importlib
import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

PROTO_ROOT = Path(__file__).resolve().parent.parent / "proto"
FILES = ("kms/v2/api.proto", "kms/v1beta1/api.proto", "kms/storage/api.proto")

_cache: SimpleNamespace | None = None


def _generate(out_dir: Path) -> None:
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).resolve().parent / "_proto"
    for sub in ("kms", "kms/v2", "kms/v1beta1", "kms/storage"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
        (out_dir / sub / "__init__.py").touch()
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *FILES,
    ]
    rc = protoc.main(args)
    if rc != 0:
        raise RuntimeError(f"grpc_tools.protoc failed with {rc} for {FILES} under {PROTO_ROOT}")


def stubs() -> SimpleNamespace:
    """v2, v2_grpc, v1, v1_grpc and storage modules, generated on first use."""
    global _cache
    if _cache is None:
        out_dir = Path(tempfile.mkdtemp(prefix="keywarden-e2e-kms-protos-"))
        atexit.register(shutil.rmtree, out_dir, True)
        _generate(out_dir)
        sys.path.insert(0, str(out_dir))
        mod = importlib.import_module
        _cache = SimpleNamespace(
            v2=mod("kms.v2.api_pb2"),
            v2_grpc=mod("kms.v2.api_pb2_grpc"),
            v1=mod("kms.v1beta1.api_pb2"),
            v1_grpc=mod("kms.v1beta1.api_pb2_grpc"),
            storage=mod("kms.storage.api_pb2"),
        )
    return _cache
