"""``python tests/record_rows.py ARGS``: ``cli.py ARGS`` in a process that appends the rows of
every batch (or piece of a batch) it makes to the file ``$RECORD_ROWS``, one JSON line each (the
batch source's ``shuffle`` flag and epoch, and the row indices): how the multi-worker test sees
which rows each worker read."""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _record(batching) -> None:
    original = batching.Batches.__init__

    def recording_init(self, make_batch, *args, **kwargs):
        def recorded(indices, rng):
            with open(os.environ["RECORD_ROWS"], "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"shuffle": self.shuffle, "epoch": self.epoch,
                                         "rows": [int(i) for i in indices]}) + "\n")
            return make_batch(indices, rng)

        original(self, recorded, *args, **kwargs)

    batching.Batches.__init__ = recording_init


if __name__ == "__main__":
    sys.path[0] = str(ROOT)  # as for cli.py: the project's packages, not tests/nlp_tasks
    from nlp_tasks import batching

    _record(batching)
    sys.argv = [str(ROOT / "cli.py"), *sys.argv[1:]]
    runpy.run_path(sys.argv[0], run_name="__main__")
