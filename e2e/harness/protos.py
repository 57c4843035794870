"""Python stubs for the CSI driver <-> provider protocol.

The suite plays the Secrets Store CSI driver, so it speaks from its own copy of
the upstream definition (e2e/proto/v1alpha1/service.proto), not from the
project's proto/ crate. Stubs are generated once per process with
grpc_tools.protoc (no system protoc) into a temporary directory that is
removed at exit; nothing generated is committed.
"""

import atexit
import importlib
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

PROTO_ROOT = Path(__file__).resolve().parent.parent / "proto"
SERVICE_PROTO = "v1alpha1/service.proto"

_cache: tuple[ModuleType, ModuleType] | None = None


def _generate(out_dir: Path) -> None:
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).resolve().parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        SERVICE_PROTO,
    ]
    rc = protoc.main(args)
    if rc != 0:
        raise RuntimeError(f"grpc_tools.protoc failed with {rc} for {PROTO_ROOT / SERVICE_PROTO}")


def v1alpha1() -> tuple[ModuleType, ModuleType]:
    """(service_pb2, service_pb2_grpc) for package v1alpha1, generated on first use."""
    global _cache
    if _cache is None:
        out_dir = Path(tempfile.mkdtemp(prefix="keywarden-e2e-protos-"))
        atexit.register(shutil.rmtree, out_dir, True)
        _generate(out_dir)
        sys.path.insert(0, str(out_dir))
        pb2 = importlib.import_module("v1alpha1.service_pb2")
        pb2_grpc = importlib.import_module("v1alpha1.service_pb2_grpc")
        _cache = (pb2, pb2_grpc)
    return _cache
