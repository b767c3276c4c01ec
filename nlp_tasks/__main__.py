"""``python -m nlp_tasks TASK COMMAND ...``: the ``nlp-tasks`` program (:mod:`nlp_tasks.cli.main`)."""

import sys

from nlp_tasks.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
