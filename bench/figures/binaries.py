"""Sizes of the release binaries: as built (the release profile strips symbols) and after
`strip` of a copy, which also drops what the profile keeps (section names, notes)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from .report import Row
from .tools import Binaries, workdir

LIMIT = 20 * 1024 * 1024


def sizes(bins: Binaries, say: Any) -> list[Row]:
    rows = []
    with workdir("kw-bench-strip-") as d:
        for path in (bins.provider, bins.kms):
            built = path.stat().st_size
            copy = Path(d) / path.name
            shutil.copy2(path, copy)
            subprocess.run(["strip", str(copy)], check=True)
            stripped = copy.stat().st_size
            say(f"{path.name}: {built:,} bytes as built, {stripped:,} after strip")
            rows.append(
                Row(
                    figure=f"stripped release binary `{path.name}`",
                    measured=f"{stripped / 2**20:.1f} MiB",
                    baseline=f"{built / 2**20:.1f} MiB as built",
                    target="< 20 MiB",
                    passed=stripped < LIMIT and built < LIMIT,
                    detail={"as_built_bytes": built, "stripped_bytes": stripped},
                )
            )
    return rows
