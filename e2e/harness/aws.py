"""The local AWS endpoint: moto on loopback, and a log of every request it answers.

One moto server (S3, KMS, STS, IAM on a single port) runs per test session on a
free 127.0.0.1 port, region us-east-1, with dummy credentials. A small WSGI
middleware in front of it records each request as (service, operation) with
its status and conditional headers, so tests can state costs such as "a
re-Mount makes one conditional S3 request and no KMS call" by counting what
actually reached the endpoint. Each request also keeps the access key id it
was signed with (a process started with its own key id is told apart from the
suite's seeding clients and from other processes: `RequestLog.by`) and, for
KMS, the request fields that are not secret (`KMS_FIELDS`: the key and the
encryption context it named), so tests read what a client asked KMS for at the
endpoint rather than from the client.

`Seeder` wraps boto3 clients for setting the world up (buckets with or
without versioning, objects, KMS keys, SSE-KMS objects). Seeding traffic is
logged too; take `mark()` before the step you want to count.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, unquote

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from . import moto_fixes

REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"


def endpoint_env(url: str) -> dict[str, str]:
    """Environment for a process that should talk to the local endpoint at `url` only."""
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }

_CREDENTIAL_RE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_ACCESS_KEY_RE = re.compile(r"Credential=([^/,\s]+)/")
_REGION_RE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/")
_JSON_TARGET_SERVICE = {"TrentService": "kms"}
# KMS request fields recorded with each request; never Plaintext.
KMS_FIELDS = ("KeyId", "SourceKeyId", "DestinationKeyId", "EncryptionContext", "SourceEncryptionContext",
              "DestinationEncryptionContext", "KeySpec", "NumberOfBytes")

T = TypeVar("T")


@dataclass(frozen=True)
class Request:
    """One request as it reached the endpoint."""

    service: str
    operation: str
    method: str
    path: str
    status: int
    headers: dict[str, str] = field(hash=False, compare=False)
    access_key: str = ""  # the access key id of its SigV4 signature ("" if unsigned)
    fields: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)  # KMS_FIELDS it named
    region: str = field(default="", compare=False)  # the region of its SigV4 signature ("" if unsigned)

    @property
    def conditional(self) -> bool:
        return any(h in self.headers for h in ("if-none-match", "if-match", "if-modified-since"))


class Log(Generic[T]):
    """A thread-safe, append-only list, read from a marked position on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[T] = []

    def append(self, item: T) -> None:
        with self._lock:
            self._items.append(item)

    def mark(self) -> int:
        """A position to count from."""
        with self._lock:
            return len(self._items)

    def since(self, mark: int = 0) -> list[T]:
        with self._lock:
            return list(self._items[mark:])


class RequestLog(Log[Request]):
    """The Requests an endpoint answered, with counting helpers."""

    def counts(self, mark: int = 0) -> Counter[tuple[str, str]]:
        """(service, operation) -> number of requests since mark."""
        return Counter((r.service, r.operation) for r in self.since(mark))

    def count(self, service: str, operation: str | None = None, mark: int = 0) -> int:
        return sum(
            1
            for r in self.since(mark)
            if r.service == service and (operation is None or r.operation == operation)
        )

    def by(self, access_key: str, mark: int = 0) -> list[Request]:
        """The requests since mark signed with access_key."""
        return [r for r in self.since(mark) if r.access_key == access_key]


def signed_region(authorization: str) -> str:
    """The region of a SigV4 `Authorization` header's credential scope, "" if it has none."""
    m = _REGION_RE.search(authorization)
    return m.group(1) if m else ""


def access_key_of(environ: dict[str, Any]) -> str:
    """The access key id a request was signed with (header or presigned query), "" if unsigned."""
    m = _ACCESS_KEY_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if m:
        return m.group(1)
    cred = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential", [""])[0]
    return cred.split("/", 1)[0]


def kms_fields(environ: dict[str, Any], body: bytes) -> dict[str, Any]:
    """The KMS_FIELDS of a KMS (JSON protocol) request body."""
    if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("TrentService."):
        return {}
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return {}
    return {k: request[k] for k in KMS_FIELDS if isinstance(request, dict) and k in request}


def _s3_operation(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> str:
    """Name the S3 REST operation of a path-style request (the provider uses path style)."""
    parts = [p for p in path.split("/", 2)[1:] if p != ""] if path != "/" else []
    has_key = len(parts) == 2
    q = set(query)
    if query.get("x-id"):  # the Rust and Go SDKs name the operation themselves
        return query["x-id"][0]
    if not parts:
        return "ListBuckets" if method == "GET" else f"{method} /"
    if not has_key:
        sub = {
            ("PUT", "versioning"): "PutBucketVersioning",
            ("GET", "versioning"): "GetBucketVersioning",
            ("GET", "versions"): "ListObjectVersions",
            ("GET", "location"): "GetBucketLocation",
            ("PUT", "policy"): "PutBucketPolicy",
            ("GET", "policy"): "GetBucketPolicy",
            ("PUT", "encryption"): "PutBucketEncryption",
            ("GET", "encryption"): "GetBucketEncryption",
            ("POST", "delete"): "DeleteObjects",
        }
        for (m, s), op in sub.items():
            if method == m and s in q:
                return op
        if method == "GET":
            return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
        return {"PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}.get(
            method, f"{method} bucket"
        )
    for s, op in (("tagging", "ObjectTagging"), ("acl", "ObjectAcl"), ("attributes", "ObjectAttributes")):
        if s in q:
            return {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, method) + op
    if "uploads" in q:
        return "CreateMultipartUpload"
    if "uploadId" in q:
        return {"PUT": "UploadPart", "POST": "CompleteMultipartUpload", "DELETE": "AbortMultipartUpload"}.get(
            method, "ListParts"
        )
    if method == "PUT":
        return "CopyObject" if "x-amz-copy-source" in headers else "PutObject"
    return {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method, f"{method} object")


def classify(environ: dict[str, Any], body: bytes) -> tuple[str, str]:
    """(service, operation) of a WSGI request to the endpoint."""
    path = environ.get("PATH_INFO", "/") or "/"
    if path.startswith("/moto-api"):
        return "moto-api", path
    auth = environ.get("HTTP_AUTHORIZATION", "")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    m = _CREDENTIAL_RE.search(auth)
    service = m.group(1) if m else ""
    if not service and "X-Amz-Credential" in query:
        cred = query["X-Amz-Credential"][0].split("/")
        service = cred[3] if len(cred) > 3 else ""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        prefix, _, op = target.partition(".")
        return service or _JSON_TARGET_SERVICE.get(prefix, prefix.lower()), op
    form: dict[str, list[str]] = {}
    ctype = environ.get("CONTENT_TYPE", "")
    if "x-www-form-urlencoded" in ctype:
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    action = (form.get("Action") or query.get("Action") or [""])[0]
    if action:
        # Query-protocol services (STS, IAM); unsigned calls such as
        # AssumeRoleWithWebIdentity carry no Credential scope.
        if not service:
            service = "iam" if "Version" in form and form["Version"] == ["2010-05-08"] else "sts"
        return service, action
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    return service or "s3", _s3_operation(environ.get("REQUEST_METHOD", "GET"), unquote(path), query, headers)


class CountingMiddleware:
    """WSGI middleware that records every request into a RequestLog."""

    def __init__(self, app: Any, log: RequestLog) -> None:
        self.app = app
        self.log = log

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        body = b""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > 0:
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
        elif environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            body = environ["wsgi.input"].read()
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        service, operation = classify(environ, body)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        status_box: list[int] = [0]

        def recording_start_response(status: str, response_headers: Any, exc_info: Any = None) -> Any:
            status_box[0] = int(status.split()[0])
            return start_response(status, response_headers, exc_info)

        try:
            return self.app(environ, recording_start_response)
        finally:
            self.log.append(
                Request(
                    service=service,
                    operation=operation,
                    method=environ.get("REQUEST_METHOD", ""),
                    path=environ.get("PATH_INFO", ""),
                    status=status_box[0],
                    headers=headers,
                    access_key=access_key_of(environ),
                    fields=kms_fields(environ, body),
                    region=signed_region(environ.get("HTTP_AUTHORIZATION", "")),
                )
            )


class MotoEndpoint(ThreadedMotoServer):
    """moto's threaded server with the counting middleware in front of its app."""

    def __init__(self, port: int = 0, quiet: bool = True) -> None:
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        moto_fixes.apply()
        self.requests = RequestLog()
        if quiet:  # werkzeug's per-request access log; the RequestLog keeps the record
            logging.getLogger("werkzeug").setLevel(logging.WARNING)

    def moto_app(self) -> Any:
        """moto's WSGI app; a subclass may wrap it (the request counter stays outermost)."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        return DomainDispatcherApplication(create_backend_app)

    def _server_entry(self) -> None:  # same as moto's, with the app wrapped
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        app = CountingMiddleware(self.moto_app(), self.requests)
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def env(self) -> dict[str, str]:
        """Environment for a process that should talk to this endpoint only."""
        return endpoint_env(self.url)

    def reset(self) -> None:
        """Forget every resource (moto's reset API); the request log is kept."""
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")).read()


def client(
    url: str,
    service: str,
    region: str = REGION,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    session_token: str | None = None,
) -> Any:
    """A boto3 client of `service` for `region` at the local endpoint `url`: path-style S3, one
    attempt (a test sees the endpoint's answer, not a retry of it)."""
    return boto3.client(
        service, endpoint_url=url, region_name=region, aws_access_key_id=access_key,
        aws_secret_access_key=secret_key, aws_session_token=session_token,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


class Seeder:
    """boto3 clients bound to the endpoint, with helpers for the usual set-up."""

    def __init__(self, endpoint: MotoEndpoint) -> None:
        self.endpoint = endpoint
        self.s3 = client(endpoint.url, "s3")
        self.kms = client(endpoint.url, "kms")
        self.sts = client(endpoint.url, "sts")
        self.iam = client(endpoint.url, "iam")

    def bucket(self, name: str, versioned: bool = True) -> str:
        self.s3.create_bucket(Bucket=name)
        if versioned:
            self.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    def put(self, bucket: str, key: str, body: bytes, **extra: Any) -> dict[str, Any]:
        """PutObject; returns the response (VersionId when versioned, ETag always)."""
        return self.s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)

    def put_sse_kms(self, bucket: str, key: str, body: bytes, key_id: str) -> dict[str, Any]:
        return self.put(bucket, key, body, ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id)

    def kms_key(self, description: str = "keywarden e2e") -> dict[str, Any]:
        """A symmetric KMS key; returns its KeyMetadata (KeyId, Arn)."""
        return self.kms.create_key(Description=description)["KeyMetadata"]
