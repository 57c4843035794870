"""A moto server that enforces IAM, run in its own process (`python iam_server.py PORT LOG`).

moto keeps its "check IAM from now on" switch and every backend in process-wide
globals, so an IAM-enforcing endpoint cannot share a process with the suite's
ordinary one: this script is started as a child by harness/iam.py.

- `INITIAL_NO_AUTH_ACTION_COUNT` is set (from the parent's environment) before
  moto is imported: the parent seeds the world within those unauthenticated
  calls, then switches enforcement on at once with `/moto-api/reset-auth`.
- Real clients send STS `AssumeRoleWithWebIdentity` unsigned (the token is the
  credential). moto 5.2.5 then fails with `KeyError: 'HTTP_AUTHORIZATION'`
  (docs/reference.md §5). Exactly that action, unsigned, is let past moto's signature and
  policy check. moto verifies neither the web identity token nor the role's
  trust policy, so this layer does the part the suite relies on: the role must
  exist, and when its trust policy pins `<issuer>:sub` / `<issuer>:aud` with
  `StringEquals`, the token's claims must match (else `AccessDenied`, 403, as
  AWS answers).
- What moto does not model is decided here with harness/iam_policy.py, from the caller's
  identity policies (as moto stores them) and the key's policy: every signed KMS call on a key
  (Decrypt, Encrypt, GenerateDataKey*, ReEncrypt*, DescribeKey), with the key's ARN as resource
  and the encryption context as condition keys (moto's own check, against resource `*` and
  without condition values, is skipped for those); the KMS call S3 makes for the caller on a
  GetObject of an SSE-KMS object (`kms:Decrypt`) and on a PutObject that SSE-KMS encrypts, by
  header or by the bucket's default (`kms:GenerateDataKey`), with `kms:ViaService` =
  `s3.<region>.amazonaws.com` and the `aws:s3:arn` context S3 uses (the bucket's ARN with an
  S3 Bucket Key, else the object's); and an `sts:AssumeRole` signed by the stand-in of the
  EKS Pod Identity service (the IAM user `eks-pod-identity-service`), checked against the
  role's trust policy as the service principal `pods.eks.amazonaws.com`; and a ListObjectsV2
  (or ListObjects) as `s3:ListBucket` on the bucket's ARN with the condition keys AWS sets for
  it (`s3:prefix`, `s3:delimiter`, `s3:max-keys`, present only when the request names them),
  from the caller's identity policies (moto ignores those conditions; a bucket policy is not
  consulted). A refusal is
  answered as AWS answers it (KMS: 400 `AccessDeniedException`; S3: 403 `AccessDenied`).
- Secrets Manager `GetSecretValue` and SSM `GetParameters` are decided here too, with the
  secret's ARN (its real one, random suffix included, when it exists) and each parameter's ARN
  as resources; one refused name refuses the whole GetParameters call.
- A GetObject of a key with a path element `slow` is answered two seconds late
  (`SLOW_SECONDS`), so a test can have many Mounts in flight during one fetch.
- Every request is appended as one JSON line to LOG before its response is sent:
  service, operation, method, path, status, the conditional headers, the access
  key that signed it, and for STS the role, session name and a token digest.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import sys
import threading
import time
from typing import Any
from urllib.parse import parse_qs

_UNSIGNED_ALLOWED = "AssumeRoleWithWebIdentity"
ACCOUNT = "123456789012"
POD_IDENTITY_SERVICE_USER = "eks-pod-identity-service"
_KMS_KEY_OPERATIONS = {
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncrypt", "DescribeKey",
}
SLOW_SECONDS = 2.0
_KEPT_HEADERS = ("if-none-match", "if-match", "if-modified-since", "x-amz-security-token")


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT-looking string (no signature check), {} if unreadable."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
        return claims if isinstance(claims, dict) else {}
    except (IndexError, ValueError):
        return {}


def _access_denied(start_response: Any, message: str) -> list[bytes]:
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        f"<Code>AccessDenied</Code><Message>{message}</Message></Error>"
        "<RequestId>keywarden-e2e</RequestId></ErrorResponse>"
    ).encode()
    start_response("403 Forbidden", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _trust_refusal(form: dict[str, list[str]]) -> str | None:
    """Why AWS would refuse this AssumeRoleWithWebIdentity, or None."""
    from moto.iam.models import iam_backends

    role_arn = (form.get("RoleArn") or [""])[0]
    token = (form.get("WebIdentityToken") or [""])[0]
    backend = iam_backends["123456789012"]["aws"]
    try:
        role = backend.get_role_by_arn(role_arn)
    except Exception:
        return f"Not authorized to perform sts:AssumeRoleWithWebIdentity (no role {role_arn})"
    claims = jwt_claims(token)
    policy = json.loads(role.assume_role_policy_document)
    for stmt in policy.get("Statement", []):
        if stmt.get("Effect") != "Allow" or "sts:AssumeRoleWithWebIdentity" not in str(stmt.get("Action")):
            continue
        ok = True
        for key, want in stmt.get("Condition", {}).get("StringEquals", {}).items():
            claim = key.rsplit(":", 1)[-1]
            got = claims.get(claim)
            got_values = got if isinstance(got, list) else [got]
            wanted = want if isinstance(want, list) else [want]
            if not any(w in got_values for w in wanted):
                ok = False
        if ok:
            return None
    return "Not authorized to perform sts:AssumeRoleWithWebIdentity"


def _caller(access_key: str, token: str | None) -> Any:
    """moto's view of the signer (user or role session), or None for an unknown key."""
    from moto.iam.access_control import create_access_key

    headers = {"X-Amz-Security-Token": token} if token else {}
    try:
        return create_access_key(ACCOUNT, "aws", access_key, headers)
    except Exception:
        return None


def _principal_and_policies(caller: Any) -> tuple[Any, list[dict[str, Any]]]:
    from moto.iam.access_control import IAMPolicy

    from harness.iam_policy import Principal

    arn = caller.arn
    role_arn = ""
    if ":assumed-role/" in arn:
        role_arn = f"arn:aws:iam::{ACCOUNT}:role/{arn.split(':assumed-role/')[1].split('/')[0]}"
    policies = [IAMPolicy(p)._policy_json for p in caller.collect_policies()]
    return Principal(arn=arn, account=ACCOUNT, role_arn=role_arn), policies


def _kms_key(region: str, key_spec: str) -> Any:
    from moto.kms.models import kms_backends

    backend = kms_backends[ACCOUNT][region]
    try:
        return backend.describe_key(key_spec)
    except Exception:
        return None


def _kms_decision(caller: Any, region: str, key_spec: str, action: str, context: dict[str, Any]) -> str | None:
    """Why AWS would refuse `action` on the key for this caller, or None."""
    from harness.iam_policy import evaluate

    key = _kms_key(region, key_spec)
    if key is None:
        return None  # moto answers NotFound itself
    principal, policies = _principal_and_policies(caller)
    full = {"kms:CallerAccount": ACCOUNT, **context}
    decision = evaluate(action, key.arn, full, principal, policies, json.loads(key.policy))
    if decision.allowed:
        return None
    return f"User: {principal.arn} is not authorized to perform: {action} on resource: {key.arn} because {decision.reason}"


def _kms_call_refusal(caller: Any, region: str, operation: str, body: bytes) -> str | None:
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return None
    key_spec = request.get("KeyId") or request.get("DestinationKeyId")
    if not key_spec and request.get("CiphertextBlob"):
        try:
            key_spec = base64.b64decode(request["CiphertextBlob"])[:36].decode("ascii")
        except (ValueError, UnicodeDecodeError):
            return None
    if not key_spec:
        return None
    context = {f"kms:EncryptionContext:{k}": v for k, v in (request.get("EncryptionContext") or {}).items()}
    if request.get("EncryptionContext"):
        context["kms:EncryptionContextKeys"] = sorted(request["EncryptionContext"])
    return _kms_decision(caller, region, key_spec, f"kms:{operation}", context)


def _s3_kms_refusal(caller: Any, operation: str, path: str, query: dict[str, list[str]],
                    headers: dict[str, str]) -> str | None:
    """The KMS call S3 makes for the caller on an SSE-KMS GetObject or PutObject."""
    from moto.s3.models import s3_backends

    parts = path.lstrip("/").split("/", 1)
    if len(parts) != 2 or not parts[1]:
        return None
    bucket_name, key_name = parts[0], parts[1]
    backend = s3_backends[ACCOUNT]["aws"]
    try:
        bucket = backend.get_bucket(bucket_name)
    except Exception:
        return None
    if operation == "GetObject":
        version = (query.get("versionId") or [None])[0]
        try:
            obj = backend.get_object(bucket_name, key_name, version_id=version)
        except Exception:
            return None
        if obj is None or obj.encryption != "aws:kms" or not obj.kms_key_id:
            return None
        key_spec, bucket_key, action = obj.kms_key_id, obj.bucket_key_enabled, "kms:Decrypt"
    else:
        rule = ((bucket.encryption or {}).get("Rule") or {})
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        sse = headers.get("x-amz-server-side-encryption") or default.get("SSEAlgorithm")
        if sse not in ("aws:kms", "aws:kms:dsse"):
            return None
        key_spec = headers.get("x-amz-server-side-encryption-aws-kms-key-id") or default.get("KMSMasterKeyID")
        if not key_spec:
            return None
        bucket_key = headers.get("x-amz-server-side-encryption-bucket-key-enabled") or rule.get("BucketKeyEnabled")
        action = "kms:GenerateDataKey"
        if _kms_key(bucket.region_name, key_spec) is None:
            return f"KMS key {key_spec} does not exist in {bucket.region_name}"
    arn = f"arn:aws:s3:::{bucket_name}" if str(bucket_key).lower() == "true" else f"arn:aws:s3:::{bucket_name}/{key_name}"
    context = {
        "kms:ViaService": f"s3.{bucket.region_name}.amazonaws.com",
        "kms:EncryptionContext:aws:s3:arn": arn,
        "kms:EncryptionContextKeys": ["aws:s3:arn"],
    }
    return _kms_decision(caller, bucket.region_name, key_spec, action, context)


def _s3_list_refusal(caller: Any, path: str, query: dict[str, list[str]]) -> str | None:
    """A ListObjects(V2) as `s3:ListBucket`, with the condition keys of the request."""
    from harness.iam_policy import evaluate

    bucket_name = path.lstrip("/").split("/", 1)[0]
    if not bucket_name:
        return None
    context: dict[str, Any] = {}
    for param, condition_key in (("prefix", "s3:prefix"), ("delimiter", "s3:delimiter"),
                                 ("max-keys", "s3:max-keys")):
        if param in query:
            context[condition_key] = query[param][0]
    principal, policies = _principal_and_policies(caller)
    arn = f"arn:aws:s3:::{bucket_name}"
    decision = evaluate("s3:ListBucket", arn, context, principal, policies)
    if decision.allowed:
        return None
    return f"User: {principal.arn} is not authorized to perform: s3:ListBucket on resource: {arn} because {decision.reason}"


def _pod_identity_refusal(caller: Any, form: dict[str, list[str]]) -> str | None:
    """An AssumeRole by the Pod Identity service stand-in, against the role's trust policy."""
    from moto.iam.models import iam_backends

    from harness.iam_policy import Principal, evaluate

    role_arn = (form.get("RoleArn") or [""])[0]
    try:
        role = iam_backends[ACCOUNT]["aws"].get_role_by_arn(role_arn)
    except Exception:
        return f"no role {role_arn}"
    trust = json.loads(role.assume_role_policy_document)
    service = Principal(service="pods.eks.amazonaws.com")
    for action in ("sts:AssumeRole", "sts:TagSession"):
        if not evaluate(action, role_arn, {}, service, [], trust).allowed:
            return f"pods.eks.amazonaws.com is not authorized to perform: {action} on resource: {role_arn}"
    return None


def _secret_arn(region: str, secret_id: str) -> str:
    """The ARN AWS authorizes a GetSecretValue against: the secret's own (with its random
    suffix) when it exists, else the ARN its name would have."""
    from moto.secretsmanager.models import secretsmanager_backends

    if secret_id.startswith("arn:"):
        return secret_id
    try:
        return secretsmanager_backends[ACCOUNT][region].describe_secret(secret_id).arn
    except Exception:
        return f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{secret_id}"


def _parameter_arn(region: str, name: str) -> str:
    """A GetParameters name (`name`, `name:selector` or an ARN) as the parameter's ARN."""
    if name.startswith("arn:"):
        parts = name.split(":")
        return ":".join(parts[:6])
    base = name.split(":", 1)[0]
    return f"arn:aws:ssm:{region}:{ACCOUNT}:parameter/{base.removeprefix('/')}"


def _managed_refusal(caller: Any, region: str, service: str, operation: str, body: bytes) -> str | None:
    """Secrets Manager GetSecretValue and SSM GetParameters, against the resources they read
    (moto checks these actions against resource `*` only). GetParameters is refused whole when
    any name is refused, as AWS does."""
    from harness.iam_policy import evaluate

    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return None
    if service == "secretsmanager":
        action, resources = "secretsmanager:GetSecretValue", [_secret_arn(region, str(request.get("SecretId", "")))]
    else:
        action, resources = "ssm:GetParameters", [_parameter_arn(region, str(n)) for n in request.get("Names", [])]
    principal, policies = _principal_and_policies(caller)
    for resource in resources:
        decision = evaluate(action, resource, {}, principal, policies, None)
        if not decision.allowed:
            return (f"User: {principal.arn} is not authorized to perform: {action} on resource: "
                    f"{resource} because {decision.reason}")
    return None


def _refuse(start_response: Any, service: str, message: str) -> list[bytes]:
    if service in ("kms", "secretsmanager", "ssm"):
        body = json.dumps({"__type": "AccessDeniedException", "message": message}).encode()
        start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"),
                                           ("Content-Length", str(len(body)))])
        return [body]
    if service == "sts":
        return _access_denied(start_response, message)
    body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>"
            f"<Message>{message}</Message><RequestId>keywarden-e2e</RequestId></Error>").encode()
    start_response("403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _region_of(auth: str) -> str:
    """The region of a SigV4 credential scope (Credential=AK/DATE/REGION/SERVICE/...)."""
    try:
        return auth.split("Credential=", 1)[1].split("/")[2]
    except IndexError:
        return "us-east-1"


class Recorder:
    """WSGI layer: record each request as a JSON line; handle the unsigned STS action."""

    def __init__(self, app: Any, log_path: str) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.log = open(log_path, "a", encoding="utf-8")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        from harness.aws import classify, signed_region

        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > 0:
            body = environ["wsgi.input"].read(length)
        elif environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            body = environ["wsgi.input"].read()
            environ["CONTENT_LENGTH"] = str(len(body))
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        service, operation = classify(environ, body)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        auth = headers.get("authorization", "")
        access_key = auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else ""
        entry: dict[str, Any] = {
            "service": service,
            "operation": operation,
            "method": environ.get("REQUEST_METHOD", ""),
            "path": environ.get("PATH_INFO", ""),
            "status": 0,
            "headers": {k: v for k, v in headers.items() if k in _KEPT_HEADERS},
            "access_key": access_key,
            "region": signed_region(auth),
            "params": {},
        }
        form: dict[str, list[str]] = {}
        if service == "sts":
            form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            form.update(parse_qs(environ.get("QUERY_STRING", "")))
            for name in ("RoleArn", "RoleSessionName", "DurationSeconds"):
                if name in form:
                    entry["params"][name] = form[name][0]
            if "WebIdentityToken" in form:
                entry["params"]["token_sha256"] = hashlib.sha256(form["WebIdentityToken"][0].encode()).hexdigest()
        status_box = [0]

        def recording_start_response(status: str, response_headers: Any, exc_info: Any = None) -> Any:
            status_box[0] = int(status.split()[0])
            return start_response(status, response_headers, exc_info)

        try:
            if operation == _UNSIGNED_ALLOWED and not auth:
                refusal = _trust_refusal(form)
                if refusal:
                    return _access_denied(recording_start_response, refusal)
                _UNSIGNED.active = True
            refusal = None
            caller = _caller(access_key, headers.get("x-amz-security-token")) if access_key else None
            if caller is not None:
                if service == "kms" and operation in _KMS_KEY_OPERATIONS:
                    refusal = _kms_call_refusal(caller, _region_of(auth), operation, body)
                    _DECIDED.active = refusal is None
                elif (service, operation) in (("secretsmanager", "GetSecretValue"), ("ssm", "GetParameters")):
                    refusal = _managed_refusal(caller, _region_of(auth), service, operation, body)
                    _DECIDED.active = refusal is None
                elif service == "s3" and operation in ("GetObject", "PutObject"):
                    refusal = _s3_kms_refusal(caller, operation, entry["path"],
                                              parse_qs(environ.get("QUERY_STRING", "")), headers)
                elif service == "s3" and operation in ("ListObjectsV2", "ListObjects"):
                    refusal = _s3_list_refusal(caller, entry["path"],
                                               parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True))
                    _DECIDED.active = refusal is None
                elif service == "sts" and operation == "AssumeRole" and caller.arn.endswith(
                        f":user/{POD_IDENTITY_SERVICE_USER}"):
                    refusal = _pod_identity_refusal(caller, form)
                    _DECIDED.active = refusal is None
            if refusal:
                return _refuse(recording_start_response, service, refusal)
            if operation == "GetObject" and "/slow/" in entry["path"]:
                time.sleep(SLOW_SECONDS)
            return self.app(environ, recording_start_response)
        finally:
            _UNSIGNED.active = False
            _DECIDED.active = False
            entry["status"] = status_box[0]
            with self.lock:
                self.log.write(json.dumps(entry) + "\n")
                self.log.flush()


_UNSIGNED = threading.local()
_DECIDED = threading.local()  # this layer authorized the request itself (KMS key calls, Pod Identity)


def _let_unsigned_web_identity_through() -> None:
    from moto.core.authorization import ActionAuthenticatorMixin

    original = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def patched(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if getattr(_UNSIGNED, "active", False) and "Authorization" not in self.headers:
            return
        if getattr(_DECIDED, "active", False):
            return
        original(self, iam_request_cls, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = patched  # type: ignore[method-assign]


def main(port: int, log_path: str) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    from harness import moto_fixes

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto_fixes.apply()
    _let_unsigned_web_identity_through()
    app = Recorder(DomainDispatcherApplication(create_backend_app), log_path)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    main(int(sys.argv[1]), sys.argv[2])
