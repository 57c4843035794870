"""The values table of the chart README, generated from the `# --` comments of values.yaml.

    python values_table.py CHART_DIR           print the table
    python values_table.py --write CHART_DIR   replace the table between the markers in README.md

A leaf is a value that is not a non-empty mapping (scalars, lists, empty maps), or a mapping
whose own `# --` comment documents it as a whole (for example `resources` or `affinity`).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

BEGIN = "<!-- values-table:begin -->"
END = "<!-- values-table:end -->"

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.\-]+):(?P<rest>.*)$")


@dataclass
class Entry:
    """One documented value."""

    path: str
    description: str
    documented_as_whole: bool


def documented_keys(values_text: str) -> dict[str, Entry]:
    """Every key of values.yaml that carries a `# --` comment, by dotted path."""
    entries: dict[str, Entry] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    for line in values_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#") and pending is not None:
            pending.append(stripped[1:].strip())
            continue
        match = _KEY.match(line)
        if not match or stripped.startswith("- "):
            if not stripped:
                pending = None
            continue
        indent = len(match.group("indent"))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k in stack] + [match.group("key")])
        stack.append((indent, match.group("key")))
        if pending is not None:
            rest = match.group("rest").strip()
            entries[path] = Entry(path, " ".join(pending), documented_as_whole=rest == "")
        pending = None
    return entries


def leaves(values: object, prefix: str = "") -> dict[str, object]:
    """Dotted path of every value that is not a non-empty mapping."""
    out: dict[str, object] = {}
    if isinstance(values, dict) and values:
        for key, value in values.items():
            out.update(leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    else:
        out[prefix] = values
    return out


def lookup(values: object, path: str) -> object:
    node = values
    for part in path.split("."):
        node = node[part]  # type: ignore[index]
    return node


def rows(chart_dir: Path) -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) for every documented value, in file order."""
    text = (chart_dir / "values.yaml").read_text()
    values = yaml.safe_load(text)
    entries = documented_keys(text)
    out = []
    for path, entry in entries.items():
        value = lookup(values, path)
        out.append((path, type_name(value), render_default(value), entry.description))
    return out


def type_name(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def render_default(value: object) -> str:
    text = json.dumps(value, separators=(",", ":"))
    return "`" + text.replace("|", "\\|") + "`"


def table(chart_dir: Path) -> str:
    lines = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    for key, kind, default, description in rows(chart_dir):
        lines.append(f"| `{key}` | {kind} | {default} | {description.replace('|', chr(92) + '|')} |")
    return "\n".join(lines) + "\n"


def readme_table(readme_text: str) -> str:
    """The text between the markers of README.md."""
    start = readme_text.index(BEGIN) + len(BEGIN)
    end = readme_text.index(END)
    return readme_text[start:end].strip("\n") + "\n"


def write(chart_dir: Path) -> None:
    readme = chart_dir / "README.md"
    text = readme.read_text()
    start = text.index(BEGIN) + len(BEGIN)
    end = text.index(END)
    readme.write_text(text[:start] + "\n" + table(chart_dir) + text[end:])


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--write":
        write(Path(argv[1]))
        return 0
    sys.stdout.write(table(Path(argv[0])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
