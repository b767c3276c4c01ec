"""A fifth task, written the way a new task is: one package and one registry line.

It tells whether a line holds a digit. ``registry.register("digits", ENTRY)`` is all it takes
(tests/nlp_tasks/test_task_layer.py makes that call): ``train``, ``evaluate`` and ``predict`` on the
command line and ``Pipeline.load`` come from the core, with no command-line code here.
"""

from __future__ import annotations

from nlp_tasks.registry import TaskEntry

ENTRY = TaskEntry("tests.toytask.pipeline:DigitPipeline", help="Toy task: does a line hold a digit?")
