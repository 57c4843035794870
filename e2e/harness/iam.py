"""A local AWS endpoint that enforces IAM, and the two-tenant world the identity tests use.

`IamEndpoint` runs harness/iam_server.py as a child process on its own
loopback port (moto's IAM switch and backends are process-wide globals, so the
suite's ordinary endpoint stays unenforced and untouched). Its requests are
read back from the JSON-lines log the child writes, as the same `Request`
records harness/aws.py counts, plus the access key that signed each one and,
for STS, the role and session name asked for.

`TenantWorld.create` seeds, inside the unauthenticated set-up allowance
(`INITIAL_NO_AUTH_ACTION_COUNT`):

- an admin IAM user (inline policy `*` on `*`) whose access keys do all later
  seeding and stand in for the node's own credentials;
- an OIDC provider for the fake cluster issuer;
- roles `tenant-a` and `tenant-b`: trust policy for web identity from
  `system:serviceaccount:<tenant>:app` with audience `sts.amazonaws.com` (or
  `keywarden.example`, for a provider run with another `--token-audience`), plus
  the admin user (standing in for the EKS Pod Identity service, which assumes
  the role for the pod); permissions `s3:GetObject`/`s3:GetObjectVersion` on
  the tenant's own bucket only, `kms:Decrypt`/`kms:GenerateDataKey` on `*`
  (moto checks KMS with resource `*`), `secretsmanager:GetSecretValue` on the secrets
  named `<tenant>/*` and `ssm:GetParameters` on the parameters `/<tenant>/*` (decided by
  harness/iam_server.py with those ARNs as resources);
- a versioned bucket per tenant and one KMS key,

then switches enforcement on (`/moto-api/reset-auth` 0) and proves it: an
unknown access key is refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from .aws import REGION, Request, RequestLog
from .aws import client as aws_client
from .net import free_port
from .process import terminate
from .tokens import ISSUER, IRSA_AUDIENCE

ACCOUNT = "123456789012"
CUSTOM_AUDIENCE = "keywarden.example"  # also trusted, for --token-audience
SETUP_ALLOWANCE = 200  # unauthenticated set-up calls; enforcement is switched on right after
TENANTS = ("tenant-a", "tenant-b")
START_TIMEOUT = 30.0


def _die_with_parent() -> None:
    """In the child: SIGTERM when the suite's process goes away, however it ends (Linux)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass(frozen=True)
class IamRequest(Request):
    access_key: str = field(default="", compare=False)
    params: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


class FileRequestLog(RequestLog):
    """A RequestLog fed from the child's JSON-lines file (read on every query)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._offset = 0
        self._read_lock = threading.Lock()

    def _sync(self) -> None:
        with self._read_lock:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._offset += len(complete)
            for line in complete.decode("utf-8").splitlines():
                e = json.loads(line)
                self.append(
                    IamRequest(
                        service=e["service"],
                        operation=e["operation"],
                        method=e["method"],
                        path=e["path"],
                        status=e["status"],
                        headers=e["headers"],
                        access_key=e["access_key"],
                        params=e["params"],
                        region=e.get("region", ""),
                    )
                )

    def mark(self) -> int:
        self._sync()
        return super().mark()

    def since(self, mark: int = 0) -> list[Request]:
        self._sync()
        return super().since(mark)


class IamEndpoint:
    """moto with IAM enforced, in a child process on a free loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="kw-iam-moto-"))
        self.log_path = self.dir / "requests.jsonl"
        self.log_path.touch()
        self.output_path = self.dir / "server.out"
        self.requests = FileRequestLog(self.log_path)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> IamEndpoint:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(SETUP_ALLOWANCE)
        script = Path(__file__).with_name("iam_server.py")
        out = open(self.output_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, str(script), str(self.port), str(self.log_path)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                preexec_fn=_die_with_parent,
            )
        finally:
            out.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"IAM moto exited with {self.proc.returncode}:\n{self.output()}")
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"IAM moto not up within {START_TIMEOUT}s:\n{self.output()}")

    def output(self) -> str:
        return self.output_path.read_text(errors="replace") if self.output_path.exists() else ""

    def stop(self) -> None:
        terminate(self.proc)

    def enforce_now(self) -> None:
        """From the next request on, every call is authenticated and checked against IAM."""
        req = urllib.request.Request(
            f"{self.url}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
        )
        urllib.request.urlopen(req, timeout=5).read()

    def client(self, service: str, access_key: str, secret_key: str, session_token: str | None = None) -> Any:
        return aws_client(self.url, service, REGION, access_key, secret_key, session_token)

    def env(self, access_key: str, secret_key: str) -> dict[str, str]:
        """Provider environment: this endpoint, and the given keys as the node's own credentials."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }


@dataclass
class Tenant:
    name: str
    role_arn: str
    bucket: str


@dataclass
class TenantWorld:
    endpoint: IamEndpoint
    admin_key: str
    admin_secret: str
    kms_key_id: str
    kms_key_arn: str
    tenants: dict[str, Tenant]
    s3: Any = None
    kms: Any = None
    sts: Any = None
    secrets: Any = None
    ssm: Any = None

    def __post_init__(self) -> None:
        self.secrets = self.endpoint.client("secretsmanager", self.admin_key, self.admin_secret)
        self.ssm = self.endpoint.client("ssm", self.admin_key, self.admin_secret)
        self.s3 = self.endpoint.client("s3", self.admin_key, self.admin_secret)
        self.kms = self.endpoint.client("kms", self.admin_key, self.admin_secret)
        self.sts = self.endpoint.client("sts", self.admin_key, self.admin_secret)

    def __getitem__(self, name: str) -> Tenant:
        return self.tenants[name]

    def node_env(self) -> dict[str, str]:
        """The provider's environment: the IAM endpoint, the admin keys as node credentials."""
        return self.endpoint.env(self.admin_key, self.admin_secret)

    def put(self, tenant: str, key: str, body: bytes) -> dict[str, Any]:
        return self.s3.put_object(Bucket=self.tenants[tenant].bucket, Key=key, Body=body)

    def encrypt(self, plaintext: bytes, context: dict[str, str] | None = None) -> bytes:
        args: dict[str, Any] = {"KeyId": self.kms_key_id, "Plaintext": plaintext}
        if context:
            args["EncryptionContext"] = context
        return self.kms.encrypt(**args)["CiphertextBlob"]

    def role_credentials(self, tenant: str, session: str) -> dict[str, Any]:
        """sts:AssumeRole of the tenant role by the admin (what the Pod Identity service does)."""
        return self.sts.assume_role(RoleArn=self.tenants[tenant].role_arn, RoleSessionName=session)["Credentials"]

    @classmethod
    def create(cls, endpoint: IamEndpoint) -> TenantWorld:
        setup = endpoint.client("iam", "setup", "setup")
        s3 = endpoint.client("s3", "setup", "setup")
        kms = endpoint.client("kms", "setup", "setup")
        admin = setup.create_user(UserName="keywarden-admin")["User"]
        setup.put_user_policy(
            UserName="keywarden-admin", PolicyName="admin",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
        )
        key = setup.create_access_key(UserName="keywarden-admin")["AccessKey"]
        issuer_host = ISSUER.removeprefix("https://")
        oidc_arn = setup.create_open_id_connect_provider(
            Url=ISSUER, ClientIDList=[IRSA_AUDIENCE, CUSTOM_AUDIENCE], ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
        )["OpenIDConnectProviderArn"]
        suffix = uuid.uuid4().hex[:6]
        tenants: dict[str, Tenant] = {}
        for name in TENANTS:
            bucket = f"kw-iam-{name}-{suffix}"
            trust = {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Federated": oidc_arn},
                 "Action": "sts:AssumeRoleWithWebIdentity",
                 "Condition": {"StringEquals": {f"{issuer_host}:sub": f"system:serviceaccount:{name}:app",
                                                f"{issuer_host}:aud": [IRSA_AUDIENCE, CUSTOM_AUDIENCE]}}},
                {"Effect": "Allow", "Principal": {"AWS": admin["Arn"]},
                 "Action": ["sts:AssumeRole", "sts:TagSession"]},
            ]}
            role = setup.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
            setup.put_role_policy(
                RoleName=name, PolicyName=f"{name}-secrets",
                PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                     "Resource": f"arn:aws:s3:::{bucket}/*"},
                    {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*"},
                    # Secrets and parameters under the tenant's own name prefix only.
                    {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                     "Resource": f"arn:aws:secretsmanager:*:{ACCOUNT}:secret:{name}/*"},
                    {"Effect": "Allow", "Action": "ssm:GetParameters",
                     "Resource": f"arn:aws:ssm:*:{ACCOUNT}:parameter/{name}/*"},
                ]}),
            )
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            tenants[name] = Tenant(name=name, role_arn=role["Arn"], bucket=bucket)
        kms_key = kms.create_key(Description="keywarden e2e IAM-enforced key")["KeyMetadata"]
        endpoint.enforce_now()
        try:
            endpoint.client("s3", "AKIAUNKNOWNKEY000000", "nope").list_buckets()
        except ClientError as e:
            refused = e.response["Error"]["Code"]
        else:
            raise AssertionError("IAM enforcement is not on: an unknown access key listed buckets")
        world = cls(endpoint=endpoint, admin_key=key["AccessKeyId"], admin_secret=key["SecretAccessKey"],
                    kms_key_id=kms_key["KeyId"], kms_key_arn=kms_key["Arn"], tenants=tenants)
        world.s3.list_buckets()  # the admin keys work under enforcement
        print(f"\n[iam] moto with IAM enforced on {endpoint.url}; unknown key -> {refused}; "
              f"roles {[t.role_arn for t in tenants.values()]}")
        return world
