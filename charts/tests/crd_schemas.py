"""JSON schemas for the custom resources the chart and the examples use, which the Kubernetes
OpenAPI schemas of kubernetes-validate do not cover.

They follow the CRDs' structural schemas for the fields used here (SecretProviderClass from the
Secrets Store CSI driver 1.6, PodMonitor/ServiceMonitor from the Prometheus Operator
monitoring.coreos.com/v1) and refuse unknown fields in `spec`, as the apiserver's pruning would
silently drop them.
"""

from __future__ import annotations

_META = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "matchExpressions": {"type": "array"},
    },
}

_NAMESPACE_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"any": {"type": "boolean"}, "matchNames": {"type": "array", "items": {"type": "string"}}},
}

_DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}

_ENDPOINT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["port"],
    "properties": {
        "port": {"type": "string"},
        "path": {"type": "string"},
        "interval": _DURATION,
        "scrapeTimeout": _DURATION,
    },
}


def _monitor(kind: str, endpoints_key: str) -> dict:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": kind},
            "metadata": _META,
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "required": ["selector", endpoints_key],
                "properties": {
                    "selector": _SELECTOR,
                    "namespaceSelector": _NAMESPACE_SELECTOR,
                    endpoints_key: {"type": "array", "minItems": 1, "items": _ENDPOINT},
                },
            },
        },
    }


SECRET_PROVIDER_CLASS = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"enum": ["secrets-store.csi.x-k8s.io/v1", "secrets-store.csi.x-k8s.io/v1alpha1"]},
        "kind": {"const": "SecretProviderClass"},
        "metadata": {**_META, "required": ["name", "namespace"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["provider", "parameters"],
            "properties": {
                "provider": {"type": "string"},
                # The driver hands parameters over as a flat map of strings.
                "parameters": {"type": "object", "additionalProperties": {"type": "string"}},
                "secretObjects": {"type": "array"},
            },
        },
    },
}

CRD_SCHEMAS = {
    "PodMonitor": _monitor("PodMonitor", "podMetricsEndpoints"),
    "ServiceMonitor": _monitor("ServiceMonitor", "endpoints"),
    "SecretProviderClass": SECRET_PROVIDER_CLASS,
}
