"""The four built-in tasks, registered with the core's registry when this package is imported.

Each line names, as ``"module:attribute"`` strings, the task's :class:`~nlp_tasks.pipeline.Pipeline`
subclass, its click command group, its ``make demo`` step and what it serves over HTTP (:class:`nlp_tasks.registry.TaskEntry`).
Strings keep ``nlp-tasks --help`` instant: nothing is imported until a task's command runs. An
installed nlp-tasks finds this package through its ``nlp_tasks.tasks`` entry point (setup.cfg);
another package adds a task the same way, with one ``register`` call.
"""

from __future__ import annotations

from nlp_tasks.registry import TaskEntry, register

register("ner", TaskEntry("tasks.ner:NERPipeline", "tasks.ner_cli:cli",
                          "Named entity recognition (many-to-many): tokens -> BIO tags, entity spans.",
                          "tasks.ner_demo:demo", "tasks.serving:ner_spec"))
register("sentiment", TaskEntry("tasks.sentiment:SentimentPipeline", "tasks.sentiment_cli:cli",
                                "Sentiment classification (many-to-one): text -> label or 1-5 rating.",
                                "tasks.sentiment_demo:demo", "tasks.serving:sentiment_spec"))
register("charlm", TaskEntry("tasks.charlm:LanguageModelPipeline", "tasks.charlm_cli:cli",
                             "Language models (characters or words): train, sample novel text, score sentences.",
                             "tasks.charlm_demo:demo", "tasks.serving:charlm_spec"))
register("music", TaskEntry("tasks.music:MusicPipeline", "tasks.music_cli:cli",
                            "Music generation (one-to-many): polyphonic piano rolls, MIDI in and out.",
                            "tasks.music_demo:demo", "tasks.serving:music_spec"))
