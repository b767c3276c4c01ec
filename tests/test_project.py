"""Project-wide rules: the data folder is found, no pickle anywhere, the registry resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nlp_tasks import registry
from nlp_tasks.errors import UserError
from nlp_tasks.io.paths import DATA_ENV, atomic_write, data_dir
from tests import REPO as ROOT


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
    for path in list(ROOT.glob("*.py")) + [p for d in ("nlp_tasks", "tasks", "benchmarks")
                                           for p in (ROOT / d).rglob("*.py")]:
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
    assert sorted(registry.entries()) == ["charlm", "g2p", "music", "ner", "sentiment"]
    for name, entry in registry.entries().items():
        assert registry.pipeline_class(name).task == name
        assert registry.resolve(entry.cli) is not None and registry.resolve(entry.serve) is not None
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


# ---------------------------------------------------------------- the house's import rules (issue 32)
def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The project modules ``path`` imports, at its top or inside a function (an import inside a
    function is an arrow all the same). ``from package import name`` counts as importing the
    submodule ``package.name`` when there is one, else the package."""
    import ast

    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names}
    return {m for m in found if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    paths = [p for d in ("nlp_tasks", "tasks") for p in sorted((ROOT / d).rglob("*.py"))]
    modules = {_module_name(p) for p in paths}
    graph = {_module_name(p): _imports(p, modules) for p in paths}
    # A package's __init__ hands its submodules' names on (a face): the arrows between a package's
    # face and its own submodules are not dependencies.
    return {m: {t for t in targets if not (t.startswith(m + ".") or m.startswith(t + ".") and
                                           t.count(".") < m.count("."))} for m, targets in graph.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_module_of_the_core_or_the_tasks_takes_part_in_an_import_circle():
    assert _circles(_graph()) == []


def test_the_groups_of_the_core_stand_in_layers():
    """The core's groups (its sub-packages: io, text, data, decoding, saving, layers, ...) and its
    top modules import each other without a circle: one group never needs another that needs it
    back (a module-level circle is refused above; this is the same rule a floor up)."""
    def group(module: str) -> str:
        return ".".join(module.split(".")[:2])

    grouped: dict[str, set[str]] = {}
    for module, targets in _graph().items():
        if module.startswith("nlp_tasks."):
            grouped.setdefault(group(module), set()).update(
                group(t) for t in targets if t.startswith("nlp_tasks.") and group(t) != group(module))
    groups = {"io", "text", "data", "decoding", "saving", "layers", "export", "serve", "cli"}
    assert {f"nlp_tasks.{g}" for g in groups} <= set(grouped)
    assert _circles(grouped) == []


def test_the_tests_mirror_the_packages():
    """tests/nlp_tasks/GROUP/ tests nlp_tasks/GROUP/, tests/tasks/TASK/ tests tasks/TASK/: a folder
    of tests for a package that does not exist is a leftover of a move."""
    tests = ROOT / "tests"
    for base in ("nlp_tasks", "tasks"):
        for folder in sorted(p for p in (tests / base).rglob("*") if p.is_dir() and p.name != "__pycache__"):
            package = ROOT / folder.relative_to(tests)
            assert (package / "__init__.py").is_file(), f"{folder.relative_to(ROOT)} mirrors no package"
    for task in sorted(p.name for p in (ROOT / "tasks").iterdir() if (p / "__init__.py").is_file()):
        assert list((tests / "tasks" / task).glob("test_*.py")), f"tasks/{task} has no folder of tests"


def test_each_task_is_one_package_that_imports_the_core_and_itself_only():
    graph = _graph()
    packages = sorted(p.name for p in (ROOT / "tasks").iterdir() if (p / "__init__.py").is_file())
    assert packages == ["charlm", "g2p", "music", "ner", "sentiment"]
    assert not [p.name for p in (ROOT / "tasks").glob("*.py")
                if p.name != "__init__.py"], "a task module outside a package"
    for module, targets in graph.items():
        if module.startswith("tasks."):
            own = ".".join(module.split(".")[:2])
            strangers = [t for t in targets if t.startswith("tasks") and not t.startswith(own)]
            assert not strangers, f"{module} imports another task: {strangers}"
            absolute = [line for line in (ROOT / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
                        .splitlines() if re.match(r"\s*(from|import) tasks\b", line)] if not (
                ROOT / module.replace(".", "/") / "__init__.py").exists() else []
            assert not absolute, f"{module} imports its own package by name, not relatively: {absolute}"


def test_the_code_passes_ruff():
    """pyproject.toml's ruff configuration: line length, import order, pyflakes, pycodestyle."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed: pip install -e '.[test]'")
    result = subprocess.run([ruff, "check", "--output-format", "concise", "."], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]


def test_a_users_own_tasks_py_and_cli_py_do_not_stand_in_for_ours(tmp_path, models):
    """Run where a user keeps an Invoke-style tasks.py and a cli.py of their own: loading a model,
    the task registry and the nlp-tasks program still reach the built-in tasks (issue 32)."""
    import subprocess
    import sys

    folder = tmp_path / "project-of-theirs"
    folder.mkdir()
    (folder / "tasks.py").write_text("MINE = True\n", encoding="utf-8")
    (folder / "cli.py").write_text("raise SystemExit('the user cli.py ran')\n", encoding="utf-8")
    probe = ("import tasks; assert tasks.MINE\n"
             "from nlp_tasks.pipeline import Pipeline\n"
             "from nlp_tasks.registry import pipeline_class\n"
             f"pipe = Pipeline.load({str(models['sentiment'])!r})\n"
             "print(pipe.task, pipe.predict('good film')['label'] in pipe.labels, pipeline_class('ner').task)\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    api = subprocess.run([sys.executable, "-c", probe], cwd=folder, capture_output=True, text=True, env=env,
                         timeout=300)
    assert api.returncode == 0 and api.stdout.split() == ["sentiment", "True", "ner"], api.stderr[-2000:]
    program = subprocess.run([sys.executable, "-m", "nlp_tasks", "ner", "predict", str(models["ner"]), "Peter"],
                             cwd=folder, capture_output=True, text=True, env=env, timeout=300)
    assert program.returncode == 0 and program.stderr == "", program.stderr[-2000:]


def test_the_licence_that_setup_cfg_names_ships_with_the_code():
    """Issue 35: setup.cfg said MIT and the repository had no LICENSE."""
    import configparser

    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg", encoding="utf-8")
    assert setup["metadata"]["license"] == "MIT" and setup["metadata"]["license_files"] == "LICENSE"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "Permission is hereby granted, free of charge" in text
