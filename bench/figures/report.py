"""The report: one row per docs/reference.md §7 figure, as Markdown and as JSON, with the machine described.

A row holds what was measured, its baseline (what the same work costs without
Keywarden, or without its caches), their ratio where one makes sense, the
target and whether it was met. `detail` keeps the raw numbers for the JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    figure: str
    measured: str
    baseline: str
    target: str
    passed: bool
    ratio: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def ms(value: float) -> str:
    return f"{value:.2f} ms"


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def markdown(rows: list[Row], machine: dict[str, Any], wall_seconds: float, extra: list[str]) -> str:
    lines = [
        "| figure | measured | baseline | ratio | target | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else "—"
        lines.append(
            f"| {r.figure} | {r.measured} | {r.baseline} | {ratio} | {r.target} | {'pass' if r.passed else '**miss**'} |"
        )
    met = sum(r.passed for r in rows)
    return "\n".join(
        [
            "# Keywarden benchmark report",
            "",
            f"Machine: {machine['line']}.",
            "",
            *lines,
            "",
            f"{met} of {len(rows)} figures meet their target. Suite wall time {wall_seconds:.0f} s "
            "(without the release build). Reproduce with `make bench`; the design of each figure is in "
            "[docs/decisions.md](../../docs/decisions.md#benchmarks).",
            *extra,
            "",
        ]
    )


def write(out: Path, rows: list[Row], machine: dict[str, Any], wall_seconds: float, extra: list[str]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(
        json.dumps(
            {"machine": machine, "wall_seconds": round(wall_seconds, 1), "figures": [asdict(r) for r in rows]},
            indent=2,
        )
        + "\n"
    )
    path = out / "report.md"
    path.write_text(markdown(rows, machine, wall_seconds, extra))
    return path
