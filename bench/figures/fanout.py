"""How a Mount's fetches overlap: a cold Mount of 50 objects against a cold Mount of one.

On the fast endpoint's microsecond answers this ratio measures the machine, not the provider:
every request is CPU (signing, TLS-free HTTP, the endpoint's own work), so on 2 cores the bare
SDK program itself takes about 13 times as long for 50 objects as for one. What the figure is
about is whether the objects are fetched concurrently, which shows when answers take time
without costing CPU, as AWS's do. So the endpoint holds every answer DELAY_MS (a wait, not
work; bench/src/fast_endpoint.rs `--delay-ms`), standing for an in-region S3 or KMS round trip,
and both Mounts are timed in interleaved blocks with the bare program beside them (which
fetches all objects at once, unbounded) as the floor. Every Mount's files are checked against
the seeded plaintexts, and the endpoint's count proves every call was cold.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .fast import FastWorld
from .provider_figures import provider
from .report import Row, ms
from .tools import Binaries
from .world import pods, workload, write_workload

DELAY_MS = 5
SMALL, LARGE = 1, 50
ROUNDS, WARMUP, BLOCKS = 30, 3, 4
MAX_RATIO = 3.0


def _p50(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(math.ceil(len(ordered) / 2), 1) - 1]


def fan_out(bins: Binaries, scratch: Path, say: Any) -> Row:
    with FastWorld(bins, delay_ms=DELAY_MS) as fast, provider(fast.aws_env(), bins, "--cache-ttl", "0") as prov:
        paths = {
            count: write_workload(scratch / f"fanout-{count}.json",
                                  workload(fast.objects(count, f"fanout{count}"), pods(1, "fanout")))
            for count in (SMALL, LARGE)
        }  # fmt: skip
        samples: dict[int, dict[str, list[float]]] = {c: {"provider": [], "bare": []} for c in paths}
        cold = True
        for block in range(BLOCKS):
            for count in (SMALL, LARGE) if block % 2 == 0 else (LARGE, SMALL):
                mark = fast.mark()
                result = bins.run(
                    "mount", "--socket", str(prov.socket_path), "--workload", str(paths[count]),
                    "--iterations", str(ROUNDS), "--warmup", str(WARMUP), env=fast.env(),
                )  # fmt: skip
                calls = fast.calls(mark)
                expected = 2 * (ROUNDS + WARMUP) * count
                cold = cold and calls["s3_get"] == expected and calls["kms"] == {"Decrypt": expected} \
                    and calls["s3_get_conditional"] == 0
                for series in ("provider", "bare"):
                    samples[count][series] += result[f"{series}_ms"]
    p50 = {(c, s): _p50(samples[c][s]) for c in paths for s in ("provider", "bare")}
    ratio = p50[(LARGE, "provider")] / p50[(SMALL, "provider")]
    bare_ratio = p50[(LARGE, "bare")] / p50[(SMALL, "bare")]
    say(f"every answer held {DELAY_MS} ms: p50 {p50} ms; provider {LARGE}/{SMALL} {ratio:.2f}×, "
        f"bare {bare_ratio:.2f}×")  # fmt: skip
    return Row(
        figure=(f"provider Mount of {LARGE} objects vs of {SMALL}, cold, fast endpoint holding every answer "
                f"{DELAY_MS} ms (AWS latency, no CPU), p50"),  # fmt: skip
        measured=ms(p50[(LARGE, "provider")]),
        baseline=(f"{ms(p50[(SMALL, 'provider')])} Mount of {SMALL} (bare SDK, all at once: "
                  f"{bare_ratio:.1f}×, {ms(p50[(LARGE, 'bare')])})"),  # fmt: skip
        target=f"≤ {MAX_RATIO:g}×",
        passed=cold and ratio <= MAX_RATIO,
        ratio=ratio,
        detail={"delay_ms": DELAY_MS, "rounds": ROUNDS, "blocks": BLOCKS, "every_call_cold": cold,
                "p50_ms": {f"{c}:{s}": v for (c, s), v in p50.items()}},  # fmt: skip
    )
