"""Project-wide rules: the data folder is found, no pickle anywhere, the registry resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tasks
from nlp_tasks.errors import UserError
from nlp_tasks.paths import DATA_ENV, atomic_write, data_dir

ROOT = Path(__file__).resolve().parent.parent


def test_data_dir_follows_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "missing"))
    with pytest.raises(UserError, match="is not a directory"):
        data_dir()
    assert data_dir(required=False) is None


def test_benchmark_data_is_present(shared_data):
    """CI machines have ../shared/data; its absence there fails loudly (see conftest)."""
    for name in ("conll2003", "sst", "tinyshakespeare", "jsb_chorales"):
        assert (shared_data / name).is_dir(), name


def test_no_pickle_anywhere_in_the_project():
    pattern = re.compile(r"\b(import pickle|from pickle|cPickle|allow_pickle\s*=\s*True|joblib\.load|dill)\b")
    offenders = []
    for path in list(ROOT.glob("*.py")) + [p for d in ("nlp_tasks", "tasks", "benchmarks") for p in (ROOT / d).rglob("*.py")]:
        if pattern.search(path.read_text(encoding="utf-8")):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write("half")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_registry_entries_resolve():
    for name, entry in tasks.REGISTRY.items():
        assert tasks.pipeline_class(name).task == name
        assert tasks.resolve(entry.cli) is not None
    with pytest.raises(UserError, match="unknown task"):
        tasks.pipeline_class("no-such-task")
