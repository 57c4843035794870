"""An IAM policy evaluator for the parts of AWS authorization moto does not model.

moto 5.2.5 checks identity policies by action and resource only: it evaluates KMS calls
against resource `*` (so a statement scoped to a key ARN never matches), treats an Allow
whose condition does not hold as an explicit Deny, ignores key policies, and never makes the
KMS calls S3 makes on the caller's behalf for SSE-KMS objects. harness/iam_server.py uses
this module for exactly those checks; everything else stays with moto.

What is modelled (the AWS policy evaluation logic, same-account only):

- statements: Effect, Action/NotAction (case-insensitive wildcards), Resource/NotResource
  (wildcards), Principal in resource policies (`*`, `{"AWS": ...}` with role, assumed-role
  and account forms, `{"Service": ...}`), Condition;
- condition operators StringEquals, StringNotEquals, StringLike, StringNotLike,
  StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, ArnEquals, ArnLike, ArnNotEquals,
  ArnNotLike, Bool, Null, each with the `ForAnyValue:` / `ForAllValues:` prefixes and the
  `IfExists` suffix; condition keys are case-insensitive; several keys in one operator and
  several operators in one Condition must all hold; several values of one key are ORed
  (a negated operator holds when the request value matches none of them); a negated operator
  on a key the request lacks holds, a positive one does not;
- the decision: an explicit Deny anywhere wins; a KMS call is allowed when the key policy
  allows the principal itself, or allows the account (`arn:aws:iam::ACCOUNT:root`) and an
  identity policy allows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

Context = dict[str, "str | list[str]"]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


@dataclass(frozen=True)
class Principal:
    """Who is asking: an IAM user, or a role session (`role_arn` set), or an AWS service."""

    arn: str = ""
    account: str = ""
    role_arn: str = ""
    service: str = ""

    def names(self) -> set[str]:
        return {a for a in (self.arn, self.role_arn) if a}


def _principal_match(spec: Any, who: Principal) -> str:
    """'self' when the statement names this principal, 'account' when it names its account
    (root), '' otherwise."""
    if spec == "*":
        return "self"
    if not isinstance(spec, dict):
        return ""
    if spec.get("AWS") == "*":
        return "self"
    for value in _as_list(spec.get("AWS")):
        if value in who.names():
            return "self"
        if who.account and value in (who.account, f"arn:aws:iam::{who.account}:root"):
            return "account"
    if who.service and who.service in _as_list(spec.get("Service")):
        return "self"
    return ""


_OPERATORS = {
    "stringequals": (lambda p, v: p == v, False),
    "stringnotequals": (lambda p, v: p == v, True),
    "stringequalsignorecase": (lambda p, v: p.lower() == v.lower(), False),
    "stringnotequalsignorecase": (lambda p, v: p.lower() == v.lower(), True),
    "stringlike": (lambda p, v: _glob(p, v), False),
    "stringnotlike": (lambda p, v: _glob(p, v), True),
    "arnequals": (lambda p, v: p == v, False),
    "arnnotequals": (lambda p, v: p == v, True),
    "arnlike": (lambda p, v: _glob(p, v), False),
    "arnnotlike": (lambda p, v: _glob(p, v), True),
    "bool": (lambda p, v: p.lower() == v.lower(), False),
}


def _condition_holds(operator: str, key: str, wanted: Any, context: Context) -> bool:
    op = operator.lower()
    set_op = ""
    if ":" in op:
        set_op, op = op.split(":", 1)
    if_exists = op.endswith("ifexists")
    op = op.removesuffix("ifexists")
    lowered = {k.lower(): v for k, v in context.items()}
    present = key.lower() in lowered
    values = [str(v) for v in _as_list(lowered.get(key.lower()))]
    patterns = [str(p) for p in _as_list(wanted)]
    if op == "null":
        return all((p.lower() == "true") == (not present) for p in patterns)
    if op not in _OPERATORS:
        raise ValueError(f"condition operator {operator} is not modelled")
    match, negated = _OPERATORS[op]
    if not present:
        if set_op == "forallvalues" or if_exists or negated:
            return True
        return False

    def one(value: str) -> bool:
        hit = any(match(p, value) for p in patterns)
        return not hit if negated else hit

    if set_op == "forallvalues":
        return all(one(v) for v in values)
    return any(one(v) for v in values)


def conditions_hold(condition: dict[str, Any] | None, context: Context) -> bool:
    for operator, block in (condition or {}).items():
        for key, wanted in block.items():
            if not _condition_holds(operator, key, wanted, context):
                return False
    return True


def _statement_applies(stmt: dict[str, Any], action: str, resource: str, context: Context) -> bool:
    if "Action" in stmt:
        if not any(_glob(a, action, ignore_case=True) for a in _as_list(stmt["Action"])):
            return False
    elif "NotAction" in stmt:
        if any(_glob(a, action, ignore_case=True) for a in _as_list(stmt["NotAction"])):
            return False
    if "Resource" in stmt:
        if not any(_glob(r, resource) for r in _as_list(stmt["Resource"])):
            return False
    elif "NotResource" in stmt:
        if any(_glob(r, resource) for r in _as_list(stmt["NotResource"])):
            return False
    return conditions_hold(stmt.get("Condition"), context)


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return _as_list(policy.get("Statement"))


@dataclass
class Decision:
    allowed: bool
    reason: str
    matched: list[str] = field(default_factory=list)


def evaluate(
    action: str,
    resource: str,
    context: Context,
    principal: Principal,
    identity_policies: list[dict[str, Any]],
    resource_policy: dict[str, Any] | None = None,
) -> Decision:
    """The AWS decision for one request (see the module docstring for what is modelled)."""
    identity_allow = False
    for policy in identity_policies:
        for stmt in _statements(policy):
            if not _statement_applies(stmt, action, resource, context):
                continue
            if stmt.get("Effect") == "Deny":
                return Decision(False, f"explicit deny in an identity-based policy ({stmt.get('Sid', 'no Sid')})")
            identity_allow = True
    if resource_policy is None:
        if identity_allow:
            return Decision(True, "allowed by an identity-based policy")
        return Decision(False, f"no identity-based policy allows {action} on {resource}")
    direct = delegated = False
    for stmt in _statements(resource_policy):
        who = _principal_match(stmt.get("Principal"), principal)
        if not who or not _statement_applies(stmt, action, resource, context):
            continue
        if stmt.get("Effect") == "Deny":
            return Decision(False, f"explicit deny in the resource policy ({stmt.get('Sid', 'no Sid')})")
        if who == "self":
            direct = True
        else:
            delegated = True
    if direct:
        return Decision(True, "allowed by the resource policy")
    if delegated and identity_allow:
        return Decision(True, "allowed by an identity-based policy (the resource policy delegates to IAM)")
    if delegated:
        return Decision(False, f"no identity-based policy allows {action} on {resource}")
    return Decision(False, f"the resource policy does not allow {action} to {principal.arn or principal.service}")
