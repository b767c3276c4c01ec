"""Shared test set-up: quiet TensorFlow, float64 helpers, the benchmark data folder."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Our layers train along the fixed rule in tests (bptt where written): the same path on every
# machine, no calibration timings inside the suite; tests/nlp_tasks/layers/test_calibration.py sets it back.
os.environ.setdefault("NLP_TASKS_RECURRENT_PATH", "fixed")

import pytest  # noqa: E402


@pytest.fixture
def no_network(monkeypatch):
    """Any connection fails the test: for code that must work offline (the data a task ships)."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("a connection was opened although the data ships with the package")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="session")
def shared_data():
    """The benchmark data folder (``NLP_TASKS_DATA`` or ../shared/data).

    Missing data skips the test on a user's machine, but fails it in CI (``CI=true``): CI
    machines always have the data, so its absence there is a broken set-up, not a reason to
    quietly run fewer tests.
    """
    from nlp_tasks.io.paths import data_dir

    path = data_dir(required=False)
    if path is None:
        message = "benchmark data not found: set NLP_TASKS_DATA or provide ../shared/data"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def models(tmp_path_factory, worker_id):
    """A tiny saved model of every task (tests/models.py), built once per test session (each also
    serves as 'another task's model'); tests that change one copy it first."""
    from tests.models import TINY, built_once

    return built_once(tmp_path_factory, worker_id, "tiny-models", TINY)


# The markers of setup.cfg, given here by where a test lives or what it needs, so that a new test
# of the same kind is marked without anyone remembering to.
SERVER_MODULES = {"test_serve.py", "test_serve_faults.py"}
BROWSER_MODULES = {"test_serve_browser.py"}
SLOW_MODULES = {"test_resume.py", "test_distribute.py", "test_export.py", "test_saved_before.py", "test_contract.py"}
SLOW_FIXTURES = {"shared_data", "trained", "trained_nade", "lm", "exported", "pipes",  # real data, trained models
                 "trained_models"}
SLOW_TESTS = {  # TensorFlow processes, several trainings, the NADE's compiled generation loop
    "test_runtime.py": ("test_no_tensorflow_log_line_reaches_the_terminal", "test_importing_the_library_changes"),
    "test_project.py": ("test_a_users_own_tasks_py_and_cli_py",),
    "test_readme.py": ("test_python_examples_run",),  # the examples train small models
    "test_cli_errors.py": ("test_bad_data_file",),
    "test_music.py": ("test_in_graph_generation_draws_each_frame",),
    "test_nade.py": ("test_the_music_model_scored_in_chunks_is_the_model_in_one_pass[nade",),
    "test_ner.py": ("test_cli_errors_are_one_line", "test_padding_does_not_change", "test_dev_f1_is_shown"),
    "test_ner_offline.py": ("test_cli_train_evaluate_predict",),
    "test_sentiment_offline.py": ("test_cli_train_evaluate_predict",),
    "test_sentiment.py": ("test_cli_errors_are_one_line", "test_average_weights_are_validated",
                          "test_every_pooling_and_cell_builds_trains_and_reloads"),
    "test_sst_trees.py": ("test_predict_answers_the_same_way", "test_phrase_training_validates"),
    "test_charlm.py": ("test_cli_train_sample_score_evaluate", "test_lines_mode_names_start_from_zero"),
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.path.name
        if module in SERVER_MODULES:
            item.add_marker(pytest.mark.server)
        if module in BROWSER_MODULES:
            item.add_marker(pytest.mark.browser)
        slow_test = any(item.name.startswith(name) for name in SLOW_TESTS.get(module, ()))
        case = getattr(item, "callspec", None) and item.callspec.params.get("case")
        if (module in SLOW_MODULES or slow_test or SLOW_FIXTURES & set(item.fixturenames)
                or getattr(case, "subprocess", False)):  # a fault case in a TensorFlow process of its own
            item.add_marker(pytest.mark.slow)


def pytest_terminal_summary(terminalreporter):
    """Say how many fault and bad-input cases ran (issue 22 asks for the count in the output)."""
    reports = [r for key in ("passed", "failed") for r in terminalreporter.stats.get(key, [])
               if getattr(r, "when", "") == "call" and "test_faults.py::test_fault" in r.nodeid]
    if reports:
        failed = sum(1 for r in reports if r.failed)
        terminalreporter.write_line(f"fault and bad-input suite: {len(reports)} cases, {len(reports) - failed} held, "
                                    f"{failed} failed")


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory, worker_id):
    """Small trained models of every task (tests/models.py), built once per test session, for the
    server's and the export tests; tests that change one copy it first."""
    from tests.models import TRAINED, built_once

    return built_once(tmp_path_factory, worker_id, "trained-models", TRAINED)


@pytest.fixture(scope="session")
def server(trained_models, tmp_path_factory):
    """``nlp-tasks serve`` of :func:`trained_models` on 127.0.0.1 and a free port, for the session."""
    from tests.models import ServerProcess

    process = ServerProcess(*(str(path) for path in trained_models.values()),
                            log=tmp_path_factory.mktemp("server") / "stderr.log")
    yield process
    process.stop()
