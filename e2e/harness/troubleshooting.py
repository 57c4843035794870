"""docs/troubleshooting.md as an oracle for the messages the binaries really return.

The page's message tables are rendered from each binary's catalogue; this module reads them
back *from the page* and answers, for a gRPC code and a message a test received from a running
binary, whether the page documents that message with that code. `assert_mount_fails` applies
it to every failure the suite provokes, so a message made outside the catalogue (tonic's,
a library's, an unformatted one), a code that differs from the page, or a page that lost a
row fails the test that saw it.

Reading a row: upper-case words stand for varying parts (a literal upper-case word such as
`KMS` is accepted as itself too), `"WORD"` for a quoted value (cut values end in `… (N bytes)`),
`objects[N] (NAME)` for an object label. A row whose text is only placeholders (`REASON`,
`OBJECT: REASON`) would match anything, so there the varying part must itself be a `part` row
of the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs/troubleshooting.md"

ROW = re.compile(r"^\| (``?)(?P<text>.+?)\1 \| (?P<code>[A-Z_]+|part|exit \d+|exit) \| ")
LABEL = "objects[N] (NAME)"
QUOTED = re.compile(r'"([A-Z][A-Z0-9_]*)"')
WORD = re.compile(r"\b[A-Z][A-Z0-9_]*\b")


@dataclass(frozen=True)
class Row:
    text: str
    code: str
    pattern: re.Pattern[str]
    pure: bool  # only placeholders and punctuation


def _regex(text: str) -> tuple[str, bool]:
    """The regex of a row's text, and whether the text is only placeholders."""
    text = text.replace("\\|", "|")
    out: list[str] = []
    literal = ""
    i = 0
    while i < len(text):
        if text.startswith(LABEL, i):
            out.append(r"objects\[\d+\] \(.*?\)")
            i += len(LABEL)
            continue
        if m := QUOTED.match(text, i):
            out.append(r'(?:"' + re.escape(m.group(1)) + r'"|".*?"(?:… \(\d+ bytes\))?)')
            i = m.end()
            continue
        if (m := WORD.match(text, i)) and (i == 0 or not text[i - 1].isalnum()):
            out.append("(?:" + re.escape(m.group(0)) + "|.*?)")
            i = m.end()
            continue
        literal += text[i]
        out.append(re.escape(text[i]))
        i += 1
    pure = not any(c.isalpha() for c in literal)
    return "".join(out), pure


@cache
def rows() -> tuple[Row, ...]:
    found = []
    for line in PAGE.read_text().splitlines():
        if m := ROW.match(line):
            regex, pure = _regex(m.group("text"))
            found.append(Row(m.group("text"), m.group("code"), re.compile(regex, re.S), pure))
    assert len(found) > 100, f"{PAGE} lost its message tables ({len(found)} rows)"
    return tuple(found)


def _is_part(text: str) -> bool:
    return any(r.code == "part" and not r.pure and r.pattern.fullmatch(text) for r in rows())


def documented(code: str, message: str) -> Row | None:
    """The row of the page documenting `message` returned with gRPC `code`, if any."""
    for row in rows():
        if row.code != code or not row.pattern.fullmatch(message):
            continue
        if not row.pure:
            return row
        # `REASON` or `OBJECT: REASON`: the last varying part must be documented as a part.
        tail = message.split(": ", 1)[-1] if ": " in row.text else message
        if _is_part(tail) or _is_part(message):
            return row
    return None


def assert_documented(code: str, message: str) -> None:
    row = documented(code, message)
    assert row is not None, (
        f"{code}: {message!r} is not documented with that code in docs/troubleshooting.md "
        "(a message made outside the catalogue, or a code that differs from the page)"
    )
