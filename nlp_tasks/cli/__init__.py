"""The command line's building blocks (click lives here, not in the rest of the core).

:mod:`nlp_tasks.cli.options` holds the options spelled the same in every task and turns a
config class's settings into options (:func:`~nlp_tasks.cli.options.config_options`);
:mod:`nlp_tasks.cli.commands` builds a task's generic ``train`` / ``evaluate`` / ``predict``
commands from its Pipeline class. ``cli.py`` at the top of the project is the root group.
"""
