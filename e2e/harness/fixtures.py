"""Building blocks of the suite's fixtures (e2e/conftest.py, harness/kms_fixtures.py).

`serving` runs a local AWS endpoint for a fixture's scope. `launcher` hands a
test a function that starts server processes (harness/process.py), each in
its own short work dir under /tmp (socket paths stay under the 108-byte
limit); at teardown every one of them is stopped with the shutdown checks,
its work dir removed, and a process that did not exit 0 on SIGTERM or left
its socket behind fails the test.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from .aws import MotoEndpoint
from .process import ServerProcess

E = TypeVar("E", bound=MotoEndpoint)
P = TypeVar("P", bound=ServerProcess)


@contextlib.contextmanager
def serving(endpoint: E, label: str) -> Iterator[E]:
    """The endpoint, started for the block and stopped after it."""
    endpoint.start()
    print(f"\n[{label}] moto listening on {endpoint.url}")
    try:
        yield endpoint
    finally:
        endpoint.stop()


@contextlib.contextmanager
def launcher(prefix: str, make: Callable[..., P]) -> Iterator[Callable[..., P]]:
    """A function (*args, **kw) -> make(workdir, *args, **kw).start(); all stopped and checked at exit."""
    started: list[P] = []
    dirs: list[str] = []

    def _start(*args: Any, **kw: Any) -> P:
        workdir = tempfile.mkdtemp(prefix=prefix)
        dirs.append(workdir)
        proc = make(Path(workdir), *args, **kw)
        started.append(proc)
        return proc.start()

    try:
        yield _start
    finally:
        errors = []
        for proc in started:
            try:
                proc.stop(check=True)
            except AssertionError as e:
                errors.append(str(e))
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)
