"""The task registry: one line per task.

Each entry names, as ``"module:attribute"`` strings, the task's :class:`~nlp_tasks.pipeline.Pipeline`
subclass, its click command group and (optionally) its ``make demo`` step. Strings keep ``python cli.py --help`` instant: nothing is
imported until a task's command runs. Adding a task means one module and one line here::

    REGISTRY = {
        "ner": TaskEntry("tasks.ner:NERPipeline", "tasks.ner:cli", "Named entity recognition"),
    }
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

from nlp_tasks.errors import UserError


class TaskEntry(NamedTuple):
    pipeline: str  # "module:Class" of the Pipeline subclass
    cli: str  # "module:group" of the task's click group
    help: str  # one line for `nlp-tasks --help`
    demo: str = ""  # "module:function(out_dir: Path) -> dict" run by `make demo`; "" for none


REGISTRY: dict[str, TaskEntry] = {
    "ner": TaskEntry("tasks.ner:NERPipeline", "tasks.ner_cli:cli",
                     "Named entity recognition (many-to-many): tokens -> BIO tags, entity spans.",
                     "tasks.ner_cli:demo"),
    "sentiment": TaskEntry("tasks.sentiment:SentimentPipeline", "tasks.sentiment_cli:cli",
                           "Sentiment classification (many-to-one): text -> label or 1-5 rating.",
                           "tasks.sentiment_cli:demo"),
    "charlm": TaskEntry("tasks.charlm:LanguageModelPipeline", "tasks.charlm_cli:cli",
                        "Language models (characters or words): train, sample novel text, score sentences.",
                        "tasks.charlm_cli:demo"),
    "music": TaskEntry("tasks.music:MusicPipeline", "tasks.music_cli:cli",
                       "Music generation (one-to-many): polyphonic piano rolls, MIDI in and out.",
                       "tasks.music_cli:demo"),
}


def resolve(target: str):
    """Import ``"module:attribute"`` and return the attribute."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def pipeline_class(task: str):
    """The Pipeline subclass registered for ``task``."""
    if task not in REGISTRY:
        known = ", ".join(sorted(REGISTRY)) or "none yet"
        raise UserError(f"unknown task {task!r} (known tasks: {known})")
    return resolve(REGISTRY[task].pipeline)
