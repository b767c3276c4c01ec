"""The five built-in tasks, one package each, registered with the core's registry when this
package is imported.

Each line names, as ``"module:attribute"`` strings, the task's :class:`~nlp_tasks.pipeline.Pipeline`
subclass, its click command group, its ``make demo`` step and what it serves over HTTP
(:class:`nlp_tasks.registry.TaskEntry`). Strings keep ``nlp-tasks --help`` instant: nothing is
imported until a task's command runs. They start with this package's own name, and every import
inside the package is relative, so the package works under whichever name it was imported as
(:func:`nlp_tasks.registry.builtin_tasks`: ``tasks``, or another name where a module of the user's
called ``tasks`` is in the way). Another package adds a task the same way, with one ``register``
call, found through its ``nlp_tasks.tasks`` entry point (setup.cfg).
"""

from __future__ import annotations

from nlp_tasks.registry import TaskEntry, register

_HERE = __name__  # "tasks", or the name it was loaded under


def _entry(task: str, pipeline: str, help: str) -> TaskEntry:
    package = f"{_HERE}.{task}"
    return TaskEntry(f"{package}:{pipeline}", f"{package}.cli:cli", help, f"{package}.demo:demo",
                     f"{package}.serve:serve_spec")


register("ner", _entry("ner", "NERPipeline",
                       "Named entity recognition (many-to-many): tokens -> BIO tags, entity spans."))
register("sentiment", _entry("sentiment", "SentimentPipeline",
                             "Sentiment classification (many-to-one): text -> label or 1-5 rating."))
register("charlm", _entry("charlm", "LanguageModelPipeline",
                          "Language models (characters or words): train, sample novel text, score sentences."))
register("music", _entry("music", "MusicPipeline",
                         "Music generation (one-to-many): polyphonic piano rolls, MIDI in and out."))
register("g2p", _entry("g2p", "G2PPipeline",
                       "Grapheme-to-phoneme (many-to-many, T_x != T_y): a word -> its n best pronunciations."))
