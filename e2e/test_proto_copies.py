"""The suite's protocol copies (e2e/proto) still define what the product's (proto/protos) do.

The copies are deliberately separate: the suite plays the CSI driver and
kube-apiserver from the upstream text, not from the product's crate. But a
copy that drifts from proto/ would test the product against a protocol it
does not speak. So for each pair, the syntax, the package (it is part of every
gRPC method path) and every top-level message, enum and service must be the
same, token for token. Comments, whitespace and `option` statements (file,
message and service options such as go_package) are ignored.

e2e/proto/kms/storage/api.proto has no counterpart: it is the form the
apiserver writes into etcd, which the product never parses.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

E2E_PROTOS = Path(__file__).resolve().parent / "proto"
PRODUCT_PROTOS = Path(__file__).resolve().parent.parent / "proto" / "protos"
PAIRS = {
    "v1alpha1/service.proto": "secrets-store/v1alpha1/service.proto",
    "kms/v2/api.proto": "kms/v2/api.proto",
    "kms/v1beta1/api.proto": "kms/v1beta1/api.proto",
}
APISERVER_ONLY = {"kms/storage/api.proto"}

_TOKEN = re.compile(
    r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|//[^\n]*|/\*.*?\*/|[A-Za-z_][\w.]*|\d[\w.]*|\S', re.DOTALL
)


def tokens(text: str) -> list[str]:
    """The .proto text as tokens, without comments."""
    return [t for t in _TOKEN.findall(text) if not t.startswith(("//", "/*"))]


def _drop_options(toks: list[str]) -> list[str]:
    """Without `option ... ;` statements (field options in brackets are kept: some change the wire)."""
    out: list[str] = []
    i = 0
    while i < len(toks):
        if toks[i] == "option" and (not out or out[-1] in ("{", "}", ";")):
            i = toks.index(";", i) + 1
            continue
        out.append(toks[i])
        i += 1
    return out


def definitions(text: str) -> dict[str, str]:
    """"syntax", "package" and "<message|enum|service> <Name>" -> the normalized definition."""
    toks = _drop_options(tokens(text))
    defs: dict[str, str] = {}
    i = 0
    while i < len(toks):
        word = toks[i]
        if word in ("syntax", "package", "import"):
            end = toks.index(";", i)
            if word != "import":
                defs[word] = " ".join(toks[i:end + 1])
            i = end + 1
        elif word in ("message", "enum", "service"):
            depth, j = 0, i
            while True:
                depth += {"{": 1, "}": -1}.get(toks[j], 0)
                if toks[j] == "}" and depth == 0:
                    break
                j += 1
            defs[f"{word} {toks[i + 1]}"] = " ".join(toks[i:j + 1])
            i = j + 1
        elif word == ";":
            i += 1
        else:
            raise ValueError(f"unexpected top-level token {word!r}")
    return defs


def drift(copy: str, product: str) -> list[str]:
    """What differs between two .proto texts, one line per definition."""
    ours, theirs = definitions(copy), definitions(product)
    problems = [f"{name}: only in the e2e copy" for name in sorted(ours.keys() - theirs.keys())]
    problems += [f"{name}: only in proto/protos" for name in sorted(theirs.keys() - ours.keys())]
    for name in sorted(ours.keys() & theirs.keys()):
        if ours[name] != theirs[name]:
            problems.append(f"{name} differs:\n  e2e copy:    {ours[name]}\n  proto/protos: {theirs[name]}")
    return problems


def test_every_copy_is_paired() -> None:
    copies = {str(p.relative_to(E2E_PROTOS)) for p in E2E_PROTOS.rglob("*.proto")}
    assert copies == set(PAIRS) | APISERVER_ONLY, f"a copy without a pair (or a pair without a copy): {copies}"
    product = {str(p.relative_to(PRODUCT_PROTOS)) for p in PRODUCT_PROTOS.rglob("*.proto")}
    assert product == set(PAIRS.values()), f"a product proto the suite has no copy of: {product}"


@pytest.mark.parametrize("copy", sorted(PAIRS))
def test_copy_matches_the_product_proto(copy: str, say) -> None:
    ours = (E2E_PROTOS / copy).read_text()
    theirs = (PRODUCT_PROTOS / PAIRS[copy]).read_text()
    names = sorted(definitions(theirs))
    say(f"e2e/proto/{copy} vs proto/protos/{PAIRS[copy]}: {names}")
    assert any(n.startswith("service ") for n in names), "the comparison found no service"
    problems = drift(ours, theirs)
    assert problems == [], (
        f"e2e/proto/{copy} drifted from proto/protos/{PAIRS[copy]}:\n" + "\n".join(problems)
        + "\nupdate the copy from upstream (the suite's side) or the product's proto, so both speak one protocol"
    )


def test_the_comparison_sees_drift() -> None:
    """The comparison itself: a changed field number, type, rpc, enum value or package is drift;
    comments, options and layout are not."""
    text = (PRODUCT_PROTOS / PAIRS["v1alpha1/service.proto"]).read_text()
    field = re.search(r"string attributes = (\d+);", text)
    assert field, "the sample field moved; pick another"
    changed = [
        text.replace(field.group(0), f"string attributes = {int(field.group(1)) + 10};"),
        text.replace(field.group(0), f"bytes attributes = {field.group(1)};"),
        text.replace("rpc Mount(", "rpc Mount2("),
        text.replace("package v1alpha1;", "package v1alpha2;"),
        text.replace("message MountRequest {", "message MountRequest {\n  string extra = 99;"),
    ]
    for variant in changed:
        assert variant != text and drift(variant, text), "a real change was not seen"
    harmless = "// a comment\n" + text.replace(field.group(0), f"string  attributes={field.group(1)} ; /* note */")
    harmless = harmless.replace('option go_package = "./provider/v1alpha1";', 'option go_package = "elsewhere";')
    assert drift(harmless, text) == []
