"""Pod service-account tokens as the driver forwards them (docs/reference.md §8.4).

kubelet mints one token per audience listed in the CSIDriver's `tokenRequests`
and the driver passes them in the attribute
`csi.storage.k8s.io/serviceAccount.tokens`, a JSON string:
`{"<aud>":{"token":"<JWT>","expirationTimestamp":"<RFC 3339>"}}`.

The tokens here are JWT-shaped (base64url header.payload.signature) with the
claims a projected token carries (iss, sub, aud, exp, kubernetes.io pod
binding) and a fake signature: moto does not verify them, the suite's IAM
endpoint reads `sub`/`aud` to apply trust policies, and the fake Pod Identity
agent reads them to find the pod's association.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

from .driver import Pod

IRSA_AUDIENCE = "sts.amazonaws.com"
POD_IDENTITY_AUDIENCE = "pods.eks.amazonaws.com"
ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/KEYWARDENE2E"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def subject(pod: Pod) -> str:
    return f"system:serviceaccount:{pod.namespace}:{pod.service_account}"


def rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def jwt(pod: Pod, audience: str, expires: dt.datetime, bound: bool = True) -> str:
    """A JWT-looking projected token for `pod` and `audience` (unsigned: the signature is random).
    `bound=False`: a TokenRequest token not bound to any pod (what the sync controller mints for
    a ServiceAccount), so no `kubernetes.io.pod` claim."""
    now = dt.datetime.now(dt.timezone.utc)
    header = {"alg": "RS256", "kid": "keywarden-e2e"}
    claims: dict[str, Any] = {
        "aud": [audience],
        "exp": int(expires.timestamp()),
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "iss": ISSUER,
        "jti": str(uuid.uuid4()),
        "sub": subject(pod),
        "kubernetes.io": {
            "namespace": pod.namespace,
            "serviceaccount": {"name": pod.service_account, "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, subject(pod)))},
        },
    }
    if bound:
        claims["kubernetes.io"]["pod"] = {"name": pod.name, "uid": pod.uid}
    return ".".join(
        (
            _b64url(json.dumps(header, separators=(",", ":")).encode()),
            _b64url(json.dumps(claims, separators=(",", ":")).encode()),
            _b64url(uuid.uuid4().bytes + uuid.uuid4().bytes),
        )
    )


def pod_tokens(
    pod: Pod,
    audiences: tuple[str, ...] = (IRSA_AUDIENCE, POD_IDENTITY_AUDIENCE),
    lifetime: dt.timedelta = dt.timedelta(hours=1),
    expired: tuple[str, ...] = (),
    bound: bool = True,
) -> tuple[str, dict[str, str]]:
    """(attribute value, {audience: token}) for `pod`; audiences in `expired` expired a minute ago."""
    now = dt.datetime.now(dt.timezone.utc)
    value: dict[str, dict[str, str]] = {}
    raw: dict[str, str] = {}
    for aud in audiences:
        expires = now - dt.timedelta(minutes=1) if aud in expired else now + lifetime
        token = jwt(pod, aud, expires, bound=bound)
        raw[aud] = token
        value[aud] = {"token": token, "expirationTimestamp": rfc3339(expires)}
    return json.dumps(value, separators=(",", ":")), raw
