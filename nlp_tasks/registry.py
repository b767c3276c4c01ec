"""The task registry: which tasks exist, and where their pipeline, commands and demo live.

The core never imports a task. A task registers itself, either when its package is imported::

    from nlp_tasks.registry import TaskEntry, register

    register("ner", TaskEntry("tasks.ner:NERPipeline", "tasks.ner.cli:cli",
                              "Named entity recognition", demo="tasks.ner.demo:demo"))

or, for an installed package, through an entry point in the ``nlp_tasks.tasks`` group whose
object is a module or function that makes such calls (setup.cfg)::

    [options.entry_points]
    nlp_tasks.tasks =
        builtin = tasks

Targets are ``"module:attribute"`` strings, so listing the tasks (``nlp-tasks --help``) imports
no task code and no TensorFlow: a task's modules are imported when one of its commands runs.

The built-in tasks (the ``tasks`` package beside ``nlp_tasks``) come in through the entry point
``builtin = nlp_tasks.registry:builtin_tasks``, which finds that package by where it lies, not
by its name: a module of the user's called ``tasks`` (their own ``tasks.py`` in the working
folder, as Invoke and Celery users have) never stands in for it (:func:`builtin_tasks`).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import NamedTuple

from nlp_tasks.errors import UserError

ENTRY_POINT_GROUP = "nlp_tasks.tasks"
BUILTIN = "tasks"  # the package of the built-in tasks, beside nlp_tasks/ (a source tree or site-packages)
BUILTIN_ELSEWHERE = "nlp_tasks_builtin"  # its name in a process where `tasks` is another module


class TaskEntry(NamedTuple):
    pipeline: str  # "module:Class" of the Pipeline subclass
    cli: str = ""  # "module:group" of the task's click group; "" for the generic commands only
    help: str = ""  # one line for `nlp-tasks --help`
    demo: str = ""  # "module:function(out_dir: Path, folder: Path | None) -> dict" run by `make demo`
    serve: str = ""  # "module:function(pipeline) -> nlp_tasks.serve.spec.ServeSpec" for `nlp-tasks serve`


class Registry:
    """Task name -> :class:`TaskEntry`, filled by :meth:`register` and the entry points."""

    def __init__(self, group: str = ENTRY_POINT_GROUP):
        self.group = group
        self._entries: dict[str, TaskEntry] = {}
        self._discovered = False

    def register(self, name: str, entry: TaskEntry) -> TaskEntry:
        """Add (or replace) task ``name``; returns ``entry``."""
        if not name or not all(c.isalnum() or c in "-_" for c in name):
            raise ValueError(f"task name must be letters, digits, - or _, got {name!r}")
        if not isinstance(entry, TaskEntry):
            raise TypeError(f"register({name!r}, ...) needs a TaskEntry, got {type(entry).__name__}")
        self._entries[name] = entry
        return entry

    def copy(self) -> Registry:
        """A registry holding the same tasks (a test adds one to the copy, not to this one)."""
        other = Registry(self.group)
        other._entries, other._discovered = dict(self.entries()), True
        return other

    def entries(self) -> dict[str, TaskEntry]:
        """Every registered task, in the order registered (the entry points are loaded the first
        time; in a source tree that was never installed, which has none, the built-in tasks)."""
        if not self._discovered:
            self._discovered = True
            points = entry_points(group=self.group)
            for point in points:
                loaded = point.load()  # importing it registers its tasks
                if callable(loaded):
                    loaded()
            if not points and self.group == ENTRY_POINT_GROUP:
                builtin_tasks()
        return dict(self._entries)

    def entry(self, task: str) -> TaskEntry:
        entries = self.entries()
        if task not in entries:
            known = ", ".join(sorted(entries)) or "none"
            raise UserError(f"unknown task {task!r} (known tasks: {known})")
        return entries[task]

    def pipeline_class(self, task: str):
        """The Pipeline subclass registered for ``task``."""
        return resolve(self.entry(task).pipeline)


def builtin_tasks() -> None:
    """Register the built-in tasks: import the :data:`BUILTIN` package that lies beside
    ``nlp_tasks`` (in a source tree or in site-packages) under that name, or, where the name is
    another module's (a ``tasks.py`` in the working folder, imported or first on ``sys.path``),
    under :data:`BUILTIN_ELSEWHERE`. The package imports its own modules relatively and registers
    targets under its own name, so either name works; a process holds one copy of it."""
    folder = Path(__file__).resolve().parent.parent / BUILTIN
    init = folder / "__init__.py"
    if not init.is_file():
        return  # nlp_tasks installed without its built-in tasks
    for name in (BUILTIN, BUILTIN_ELSEWHERE):
        if _is_file(getattr(sys.modules.get(name), "__file__", None), init):
            return  # imported already: registered
    name = BUILTIN
    if BUILTIN in sys.modules or not _is_file(getattr(importlib.util.find_spec(BUILTIN), "origin", None), init):
        name = BUILTIN_ELSEWHERE
    if name == BUILTIN:
        importlib.import_module(BUILTIN)
        return
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


def _is_file(path, expected: Path) -> bool:
    try:
        return path is not None and Path(path).resolve() == expected
    except OSError:
        return False


def resolve(target: str):
    """Import ``"module:attribute"`` and return the attribute."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


TASKS = Registry()  # the process's registry


def register(name: str, entry: TaskEntry) -> TaskEntry:
    """Register task ``name`` in the process's registry (:meth:`Registry.register`)."""
    return TASKS.register(name, entry)


def entries() -> dict[str, TaskEntry]:
    return TASKS.entries()


def pipeline_class(task: str):
    return TASKS.pipeline_class(task)
