"""``python cli.py TASK COMMAND ...``: the ``nlp-tasks`` program run from a source tree.

The program itself is :mod:`nlp_tasks.cli.main` (installed as ``nlp-tasks``, also ``python -m
nlp_tasks``); this script only runs it, so that a user's own ``cli.py`` elsewhere never stands in
for ours and ours is not installed as a top-level module.
"""

import sys

from nlp_tasks.cli.main import cli, main  # noqa: F401  (cli: the click group, for tools that want it)

if __name__ == "__main__":
    sys.exit(main())
