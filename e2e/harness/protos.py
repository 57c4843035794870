"""Python stubs for the CSI driver <-> provider protocol.

The suite plays the Secrets Store CSI driver, so it speaks from its own copy of
the upstream definition (e2e/proto/v1alpha1/service.proto). Stubs are
generated once per process by harness/protoc.py.
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType

from .protoc import generate

SERVICE_PROTO = "v1alpha1/service.proto"


@functools.cache
def v1alpha1() -> tuple[ModuleType, ModuleType]:
    """(service_pb2, service_pb2_grpc) for package v1alpha1, generated on first use."""
    generate(SERVICE_PROTO)
    return importlib.import_module("v1alpha1.service_pb2"), importlib.import_module("v1alpha1.service_pb2_grpc")
