"""Python stubs for the KMS plugin protocols.

The suite plays kube-apiserver, so it speaks from its copies of the upstream
definitions (e2e/proto/kms/v2, e2e/proto/kms/v1beta1) and of the apiserver's
stored form (e2e/proto/kms/storage). Stubs are generated once per process by
harness/protoc.py.
"""

from __future__ import annotations

import functools
from importlib import import_module
from types import SimpleNamespace

from .protoc import generate

FILES = ("kms/v2/api.proto", "kms/v1beta1/api.proto", "kms/storage/api.proto")


@functools.cache
def stubs() -> SimpleNamespace:
    """v2, v2_grpc, v1, v1_grpc and storage modules, generated on first use."""
    generate(*FILES)
    return SimpleNamespace(
        v2=import_module("kms.v2.api_pb2"),
        v2_grpc=import_module("kms.v2.api_pb2_grpc"),
        v1=import_module("kms.v1beta1.api_pb2"),
        v1_grpc=import_module("kms.v1beta1.api_pb2_grpc"),
        storage=import_module("kms.storage.api_pb2"),
    )
