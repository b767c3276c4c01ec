"""One fault case = how to set it up, what to run, and what must hold afterwards.

A case builds its command line from a scratch folder and the shared tiny models, runs it, and
checks the outcome: the exit status, that stderr is one ``error: ...`` line matching ``error``
(no traceback), and optionally ``check(tmp, result)`` for what must be true of the files
afterwards (nothing of the user's deleted, the old model intact, ...).

Write a case as::

    Case("22.1", "save keeps a user's dot-files",
         setup=lambda tmp, models: [...argv...],   # may create files under tmp
         exit=0, check=lambda tmp, result: ...)    # assert inside check

``subprocess=True`` runs ``python cli.py ARGV`` in a child process bounded by ``timeout``
seconds (for crashes, blocking reads and huge allocations), forked from the test zygote
(:mod:`tests.forked`: TensorFlow already imported); otherwise ``cli.main(argv)`` runs in this
process and its output is captured.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess as sp
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests import forked

ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Result:
    code: int
    out: str
    err: str


@dataclasses.dataclass
class Case:
    item: str  # the issue item it comes from, e.g. "22.1"
    name: str  # what is tried, in a few words
    setup: Callable[[Path, dict], list[str]]  # (scratch folder, models) -> argv (files made under tmp)
    exit: int = 2  # the exit status wanted
    error: str | None = None  # regular expression the single stderr line must match (exit != 0)
    check: Callable[[Path, Result], Any] | None = None  # further assertions on files and output
    subprocess: bool = False
    timeout: float = 120.0
    env: dict | None = None  # extra environment variables (a setup may fill them in; set in-process too)

    @property
    def id(self) -> str:
        return f"{self.item} {self.name}"


def free_ports(n: int) -> list[int]:
    """``n`` TCP ports of 127.0.0.1 that were free a moment ago."""
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_in_process(argv: list[str], capsys, env: dict | None = None) -> Result:
    """``cli.main(argv)`` with ``env`` set in ``os.environ`` for the call only."""
    from nlp_tasks.cli import main as cli

    saved = {name: os.environ.get(name) for name in env or {}}
    os.environ.update(env or {})
    try:
        capsys.readouterr()
        code = cli.main([str(a) for a in argv])
        captured = capsys.readouterr()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return Result(code, captured.out, captured.err)


def run_subprocess(argv: list[str], timeout: float, env: dict | None = None, cwd: Path | None = None) -> Result:
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    try:
        proc = forked.run(argv, timeout=timeout, env=full_env, cwd=cwd or ROOT)  # a child of the test zygote
    except sp.TimeoutExpired as err:
        raise AssertionError(f"no answer within {timeout} s: {argv}") from err
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_outcome(case: Case, result: Result, tmp: Path) -> None:
    where = f"[{case.id}] exit {result.code}, stderr: {result.err[-800:]!r}"
    assert result.code == case.exit, where
    assert "Traceback" not in result.err and "Traceback" not in result.out, where
    if case.exit != 0:
        lines = [line for line in result.err.strip().splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), where
        if case.error:
            assert re.search(case.error, lines[0]), f"{where}: the message does not match {case.error!r}"
    if case.check is not None:
        case.check(tmp, result)
