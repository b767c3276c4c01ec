"""Project-wide rules: the data folder is found, no pickle anywhere, the registry resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nlp_tasks import registry
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
    assert sorted(registry.entries()) == ["charlm", "music", "ner", "sentiment"]
    for name, entry in registry.entries().items():
        assert registry.pipeline_class(name).task == name
        assert registry.resolve(entry.cli) is not None
    with pytest.raises(UserError, match="unknown task"):
        registry.pipeline_class("no-such-task")


def test_the_core_never_imports_a_task():
    """Layering: nlp_tasks/ is the core; tasks register with it (nlp_tasks/registry.py)."""
    core = Path(__file__).resolve().parent.parent / "nlp_tasks"
    offenders = [f"{path.relative_to(core.parent)}:{n}" for path in sorted(core.rglob("*.py"))
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
                 if re.match(r"\s*(import tasks\b|from tasks\b)", line)]
    assert not offenders, f"the core imports tasks/ at {', '.join(offenders)}"


def test_every_module_of_the_package_is_small_and_says_what_it_is_for():
    """DESIGN: split a file when it passes about 400 lines; a docstring opens every module."""
    root = Path(__file__).resolve().parent.parent
    for path in [root / "cli.py", *sorted((root / "nlp_tasks").rglob("*.py")), *sorted((root / "tasks").rglob("*.py"))]:
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= 400, f"{path.relative_to(root)} has {len(text.splitlines())} lines"
        assert text.lstrip().startswith('"""'), f"{path.relative_to(root)} has no module docstring"
