"""The fault and bad-input suite (issue 22): every case in ``tests/faults/cases_*.py``.

Each case runs a CLI command against a deliberately broken input, output folder or saved
model and checks exit status, the one-line error and what is left on disk
(:mod:`tests.faults.harness`). The number of cases is printed in the test run's summary.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import tests.faults
from tests.faults.harness import assert_outcome, run_in_process, run_subprocess


def _cases():
    cases = []
    for info in sorted(pkgutil.iter_modules(tests.faults.__path__), key=lambda m: m.name):
        if info.name.startswith("cases_"):
            cases.extend(importlib.import_module(f"tests.faults.{info.name}").CASES)
    return cases


CASES = _cases()
COUNT = {"cases": len(CASES)}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(case, tmp_path, capsys, models):
    argv = case.setup(tmp_path, models)
    if case.subprocess:
        result = run_subprocess(argv, case.timeout, case.env)
    else:
        result = run_in_process(argv, capsys, case.env)
    assert_outcome(case, result, tmp_path)
