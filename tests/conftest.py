"""Shared test set-up: quiet TensorFlow, float64 helpers, the benchmark data folder."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Our layers train along the fixed rule in tests (bptt where written): the same path on every
# machine, no calibration timings inside the suite; tests/test_calibration.py sets it back.
os.environ.setdefault("NLP_TASKS_RECURRENT_PATH", "fixed")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def shared_data():
    """The benchmark data folder (``NLP_TASKS_DATA`` or ../shared/data).

    Missing data skips the test on a user's machine, but fails it in CI (``CI=true``): CI
    machines always have the data, so its absence there is a broken set-up, not a reason to
    quietly run fewer tests.
    """
    from nlp_tasks.paths import data_dir

    path = data_dir(required=False)
    if path is None:
        message = "benchmark data not found: set NLP_TASKS_DATA or provide ../shared/data"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """A tiny saved model of every task, built once per test session (each also serves as
    'another task's model'); tests that change one copy it first."""
    from tests.faults.models import tiny_models

    return tiny_models(tmp_path_factory.mktemp("models"))


def pytest_terminal_summary(terminalreporter):
    """Say how many fault and bad-input cases ran (issue 22 asks for the count in the output)."""
    reports = [r for key in ("passed", "failed") for r in terminalreporter.stats.get(key, [])
               if getattr(r, "when", "") == "call" and "test_faults.py::test_fault" in r.nodeid]
    if reports:
        failed = sum(1 for r in reports if r.failed)
        terminalreporter.write_line(f"fault and bad-input suite: {len(reports)} cases, {len(reports) - failed} held, "
                                    f"{failed} failed")


@pytest.fixture(scope="session")
def served_models(tmp_path_factory):
    """Small trained models of every task (tests/serve_models.py), for the server's tests."""
    from tests.serve_models import train_models

    return train_models(tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="session")
def server(served_models, tmp_path_factory):
    """``nlp-tasks serve`` of :func:`served_models` on 127.0.0.1 and a free port, for the session."""
    from tests.serve_models import ServerProcess

    process = ServerProcess(*(str(path) for path in served_models.values()),
                            log=tmp_path_factory.mktemp("server") / "stderr.log")
    yield process
    process.stop()
