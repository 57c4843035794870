"""What the documentation tells a user to do, read from the documentation itself.

- `blocks(path)`: the fenced code blocks of a markdown file, each with its language, line and
  the file name (`read.json`) the sentence before it gives it, if any.
- `manifests(path)`: the Kubernetes objects of a markdown file's yaml blocks or a YAML file.
- `shell_commands(text)`: the commands of a shell block, continuation lines joined, comments
  dropped; `setup_commands(path)`: those of an example's `# Setup` comment.
- `Placeholders`: the substitutions docs/install.md declares (account, region, bucket, key ARN,
  OIDC issuer, namespace, ServiceAccount), applied to a policy or command for one workload.
- `AwsCli`: runs `aws` commands as the AWS CLI would, with boto3 against the local endpoint:
  generic `aws SERVICE OPERATION --arg value` (arguments mapped through botocore's service model,
  shorthand and JSON values, `file://` and `fileb://`), `--query` / `--output text`, `aws s3 cp`
  (a local file or `-` for stdin), `VAR=$(...)`, `"$VAR"`, and `printf '%s' 'X' | ...` pipes.
  Commands it cannot run (another program) are returned to the caller.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jmespath
import yaml
from botocore import xform_name
from botocore.session import get_session

REPO = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^( *)```([a-z]*)\n(.*?)^\1```", re.M | re.S)
_NAMED = re.compile(r"`([\w.-]+\.json)`")


@dataclass(frozen=True)
class Block:
    path: Path
    lang: str
    text: str
    line: int
    name: str | None

    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    text = path.read_text()
    out = []
    for m in _FENCE.finditer(text):
        before = text[: m.start()]
        lead = before.rstrip().rsplit("\n\n", 1)[-1]  # the paragraph just before the fence
        names = _NAMED.findall(lead)
        body = "\n".join(line[len(m.group(1)):] for line in m.group(3).splitlines())
        out.append(Block(path, m.group(2), body, before.count("\n") + 1, names[0] if names else None))
    return out


def named_json(path: Path) -> dict[str, str]:
    """{file name: JSON text} of the json blocks a sentence names (`trust.json` ...)."""
    found: dict[str, str] = {}
    for b in blocks(path):
        if b.lang == "json" and b.name:
            assert b.name not in found, f"{b.where()}: {b.name} defined twice"
            json.loads(b.text)  # must be valid JSON
            found[b.name] = b.text
    return found


def manifests(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".md":
        docs: list[Any] = []
        for b in blocks(path):
            if b.lang == "yaml":
                docs += [d for d in yaml.safe_load_all(b.text) if isinstance(d, dict) and "kind" in d]
        return docs
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def shell_commands(text: str) -> list[str]:
    """Commands of a shell block: `\\` continuations and lines inside an open single quote joined."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        pending += line
        if pending.count("'") % 2:
            pending += " "
            continue
        out.append(pending.strip())
        pending = ""
    assert not pending, f"dangling continuation: {pending}"
    return out


_INLINE = re.compile(r"`((?:kubectl|helm|keywarden-provider|keywarden-kms|aws|make) [^`]+)`")


def inline_commands(path: Path) -> list[str]:
    """Commands quoted in prose (`kubectl describe pod POD`), line breaks folded."""
    return [" ".join(m.group(1).split()) for m in _INLINE.finditer(path.read_text())]


def setup_commands(path: Path) -> list[str]:
    """The indented commands of the `# Setup` comment at the head of an example."""
    lines: list[str] = []
    in_setup = False
    for raw in path.read_text().splitlines():
        if not raw.startswith("#"):
            break
        if raw.startswith("# Setup"):
            in_setup = True
            continue
        if in_setup and raw.startswith("#   "):
            lines.append(raw[4:])
    return shell_commands("\n".join(lines))


@dataclass
class Placeholders:
    """The values docs/install.md names as placeholders, and what they stand for here."""

    account: str
    region: str = "eu-west-1"
    bucket: str = "acme-secrets-eu-west-1"
    namespace: str = "payments"
    service_account: str = "checkout"
    key_arn: str = ""
    issuer_host: str = ""

    DOC_ACCOUNT = "111122223333"
    DOC_KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    DOC_ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"

    def apply(self, text: str) -> str:
        if self.key_arn:
            text = text.replace(self.DOC_KEY_ARN, self.key_arn)
        if self.issuer_host:
            text = text.replace(self.DOC_ISSUER, self.issuer_host)
        text = text.replace("acme-secrets-eu-west-1", self.bucket)
        text = text.replace("eu-west-1", self.region)
        text = text.replace(self.DOC_ACCOUNT, self.account)
        text = re.sub(r"\bpayments\b", self.namespace, text)
        text = re.sub(r"\bcheckout\b", self.service_account, text)
        return text


_SERVICE = {"s3api": "s3"}


@dataclass
class AwsCli:
    """`aws ...` commands run with boto3; `client(service, region)` gives the caller's client."""

    client: Callable[[str, str], Any]
    cwd: Path
    files: dict[str, str] = field(default_factory=dict)  # file:// names -> text
    region: str = "eu-west-1"
    variables: dict[str, str] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)

    def run(self, command: str) -> str | None:
        """Run one command line; returns its text output, or raises NotAws for another program."""
        m = re.fullmatch(r"(\w+)=\$\((.*)\)", command, re.S)
        if m:
            self.variables[m.group(1)] = (self.run(m.group(2)) or "").strip()
            return None
        command = re.sub(r"\$\{?(\w+)\}?", lambda v: self.variables[v.group(1)], command)
        stdin: bytes | None = None
        output: str | None = None
        for stage in pipe_stages(command):
            argv = shlex.split(stage)
            if argv[:2] == ["printf", "%s"] and len(argv) == 3:
                output = argv[2]
                continue
            if argv[0] != "aws":
                raise NotAws(stage)
            output = self._aws(argv[1:], stdin if output is None else output.encode())
            stdin = None
        self.ran.append(command)
        return output

    def _aws(self, argv: list[str], stdin: bytes | None) -> str | None:
        service, operation, args = argv[0], argv[1], argv[2:]
        if service == "s3" and operation == "cp":
            return self._s3_cp(args, stdin)
        opts: dict[str, Any] = {}
        i = 0
        while i < len(args):
            name = args[i][2:]
            if i + 1 < len(args) and not args[i + 1].startswith("--"):
                opts[name] = args[i + 1]
                i += 2
            else:
                opts[name] = True
                i += 1
        region = opts.pop("region", self.region)
        query = opts.pop("query", None)
        out_format = opts.pop("output", "json")
        client = self.client(_SERVICE.get(service, service), region)
        model = client.meta.service_model
        op_name = next((o for o in model.operation_names if xform_name(o, "-") == operation), None)
        assert op_name, f"aws {service}: no operation {operation}"
        shape = model.operation_model(op_name).input_shape
        members = {xform_name(k, "-"): (k, s) for k, s in (shape.members.items() if shape else [])}
        params: dict[str, Any] = {}
        for cli_name, value in opts.items():
            assert cli_name in members, f"aws {service} {operation}: no option --{cli_name}"
            key, member = members[cli_name]
            params[key] = self._value(member, value)
        result = getattr(client, xform_name(op_name))(**params)
        result.pop("ResponseMetadata", None)
        if query:
            result = jmespath.search(query, result)
        if out_format == "text":
            if isinstance(result, bytes):
                import base64

                return base64.b64encode(result).decode()
            return "" if result is None else str(result)
        return json.dumps(result, default=str)

    def _value(self, shape: Any, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("file://"):
            name = value[len("file://"):]
            value = self.files[name] if name in self.files else (self.cwd / name).read_text()
        if isinstance(value, str) and value.startswith("fileb://"):
            return (self.cwd / value[len("fileb://"):]).read_bytes()
        kind = shape.type_name
        if kind == "boolean":
            return value is True or str(value).lower() == "true"
        if kind in ("integer", "long"):
            return int(value)
        if kind in ("structure", "map", "list") and isinstance(value, str):
            if value.lstrip().startswith(("{", "[")):
                return json.loads(value)
            pairs = dict(p.split("=", 1) for p in value.split(","))
            if kind == "map":
                return pairs
            return {k: self._value(shape.members[k], v) for k, v in pairs.items()}
        return value

    def _s3_cp(self, args: list[str], stdin: bytes | None) -> str | None:
        region = self.region
        if "--region" in args:
            at = args.index("--region")
            region = args[at + 1]
            args = args[:at] + args[at + 2:]
        assert len(args) == 2 and args[1].startswith("s3://"), f"aws s3 cp {args}: only upload is modelled"
        body = stdin if args[0] == "-" else (self.cwd / args[0]).read_bytes()
        assert body is not None, "aws s3 cp - without input"
        bucket, key = args[1][len("s3://"):].split("/", 1)
        self.client("s3", region).put_object(Bucket=bucket, Key=key, Body=body)
        return None


class NotAws(Exception):
    """A command line that is not an `aws` command (the caller handles it)."""


def pipe_stages(command: str) -> list[str]:
    """Split on `|` outside quotes."""
    parts, current, quote = [], "", ""
    for c in command:
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "|":
            parts.append(current.strip())
            current = ""
            continue
        current += c
    parts.append(current.strip())
    return [p for p in parts if p]


def jmes_document(paths: list[str], value: Callable[[str], str]) -> tuple[dict[str, Any], dict[str, str]]:
    """A JSON document in which each simple path (`a.b`, `"quoted-name".c`) names a string,
    and {path: that string}."""
    doc: dict[str, Any] = {}
    values: dict[str, str] = {}
    for path in paths:
        parts = [p.strip('"') for p in re.findall(r'"[^"]+"|[^.]+', path)]
        node = doc
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        values[path] = node[parts[-1]] = value(path)
    return doc, values
