"""Python stubs generated from the suite's own copies of the protocol definitions.

The suite plays the other side of each protocol (the CSI driver, kube-apiserver),
so it speaks from its copies of the upstream .proto files under e2e/proto, not
from the project's proto/ crate. `generate` runs grpc_tools.protoc (no system
protoc) into a temporary directory that is removed at exit and put on
sys.path; nothing generated is committed. harness/protos.py and
harness/kms_protos.py import the modules they need from there.
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent.parent / "proto"


def generate(*files: str) -> None:
    """Generate *_pb2 and *_pb2_grpc modules for `files` (relative to e2e/proto), importable
    by their package path (kms/v2/api.proto -> kms.v2.api_pb2)."""
    import grpc_tools
    from grpc_tools import protoc

    out_dir = Path(tempfile.mkdtemp(prefix="keywarden-e2e-protos-"))
    atexit.register(shutil.rmtree, out_dir, True)
    well_known = Path(grpc_tools.__file__).resolve().parent / "_proto"
    for file in files:
        for package in Path(file).parents[:-1]:
            (out_dir / package).mkdir(parents=True, exist_ok=True)
            (out_dir / package / "__init__.py").touch()
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *files,
    ]
    rc = protoc.main(args)
    if rc != 0:
        raise RuntimeError(f"grpc_tools.protoc failed with {rc} for {files} under {PROTO_ROOT}")
    sys.path.insert(0, str(out_dir))
