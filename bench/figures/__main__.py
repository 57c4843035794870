"""`python -m figures`: run every docs/reference.md §7 figure once and write the report.

Run by `make bench`, which builds the release binaries, the pinned venv and etcd first and
puts bench/ and e2e/ on PYTHONPATH. The report is always written; then the run fails (exit 1)
naming every figure that missed its target and every figure that could not be measured (a
process that fails, a Mount that errors or returns other bytes than were seeded).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from . import binaries, fanout, kms_figures, machine, managed, provider_figures, report, rotation
from .report import Row
from .tools import Binaries
from .world import World

REPO = Path(__file__).resolve().parents[2]
FIGURES = ("size", "latency", "fanout", "warm", "remount", "deployment", "rotation", "managed", "memory", "throughput",
           "apiserver", "coldstart")


def say(message: str) -> None:
    print(f"  {message}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m figures", description=__doc__)
    parser.add_argument("--release-dir", type=Path, default=REPO / "target" / "release")
    parser.add_argument("--out", type=Path, default=REPO / "target" / "bench")
    parser.add_argument("--only", nargs="*", choices=FIGURES, help="run only these figures (for development)")
    args = parser.parse_args()
    bins = Binaries(args.release_dir.resolve())
    bins.check()

    started = time.monotonic()
    rows: list[Row] = []
    failed: list[str] = []
    world = World()
    try:
        with tempfile.TemporaryDirectory(prefix="kw-bench-") as scratch:
            runs: dict[str, Callable[[], list[Row] | Row]] = {
                "size": lambda: binaries.sizes(bins, say),
                "latency": lambda: provider_figures.mount_latency(bins, Path(scratch), say),
                "fanout": lambda: fanout.fan_out(bins, Path(scratch), say),
                "warm": lambda: provider_figures.remount_throughput(bins, Path(scratch), say),
                "remount": lambda: provider_figures.remount(world, bins, Path(scratch), say),
                "deployment": lambda: provider_figures.deployment(world, bins, Path(scratch), say),
                "rotation": lambda: rotation.node_rotation(world, bins, Path(scratch), say),
                "managed": lambda: managed.managed_calls(world, bins, Path(scratch), say),
                "memory": lambda: provider_figures.memory_under_load(world, bins, Path(scratch), say),
                "throughput": lambda: kms_figures.throughput(world, bins, say),
                "apiserver": lambda: kms_figures.apiserver_restart(world, bins, say),
                "coldstart": lambda: kms_figures.cold_start(world, bins, say),
            }
            for name in FIGURES:
                run = runs[name]
                if args.only and name not in args.only:
                    continue
                print(f"[{name}]", flush=True)
                t = time.monotonic()
                try:
                    produced = run()
                except Exception:  # the run goes on; the failure is reported and fails make
                    traceback.print_exc()
                    failed.append(name)
                    rows.append(Row(name, "error (see the log of make bench)", "—", "—", False))
                    continue
                rows += produced if isinstance(produced, list) else [produced]
                say(f"({time.monotonic() - t:.0f} s)")
    finally:
        world.stop()
    wall = time.monotonic() - started
    models = [r.detail["cost_model"] for r in rows if "cost_model" in r.detail]
    extra = rotation.markdown(models[0]) if models else []
    path = report.write(args.out, rows, machine.describe(REPO), wall, extra)
    print()
    print(path.read_text())
    missed = [r.figure for r in rows if not r.passed and r.figure not in failed]
    for figure in missed:
        print(f"missed: {figure}", file=sys.stderr)
    if failed:
        print(f"figures that could not be measured: {', '.join(failed)}", file=sys.stderr)
    if missed or failed:
        print(f"make bench: {len(missed)} figure(s) missed their target, {len(failed)} could not be measured",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
