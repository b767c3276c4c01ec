"""Examples kept out of Python objects: a memory-mapped Arrow table that reads like a list.

A reader yields examples one at a time (``(tokens, tags)`` sentences, ``(text, label)`` pairs);
:meth:`ExampleTable.write` writes them, a few thousand rows at a time, into an Arrow IPC file
and maps it back read-only, so a corpus costs a few bytes per token on disk and nothing per
example in the process: a million CoNLL sentences held as Python lists of strings take gigabytes,
the same sentences here take what their text takes, paged in when read (and the kernel may drop
those pages again: they are file-backed). The table is a :class:`collections.abc.Sequence` of
tuples, so code written for a list of examples reads it unchanged; what reads many rows at once
uses :meth:`ExampleTable.take` (one batch) or iterates (a block at a time).

The file lives in ``cache_dir()/examples`` (:func:`nlp_tasks.io.paths.cache_dir`: a disk, where
``/tmp`` may be memory; the temporary folder where that cannot be written) and is unlinked as soon
as it is mapped: nothing is left behind when the
process ends, however it ends. A process killed while writing leaves its half-written file; the
next table made on the machine removes the leftovers of processes no longer running.

Hugging Face ``datasets`` keeps its data the same way (Arrow, memory-mapped); this is the
smallest piece of it a task needs, without a cache keyed by fingerprints.
"""

from __future__ import annotations

import collections.abc
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from nlp_tasks.errors import UserError

BATCH_ROWS = 4096  # rows converted to Arrow at a time while writing
_LEFTOVER = re.compile(r"examples-(\d+)-.*\.arrow$")


def examples_folder() -> Path:
    """Where tables are written: ``cache_dir()/examples``."""
    from nlp_tasks.io.paths import cache_dir

    return cache_dir() / "examples"


def _remove_leftovers(folder: Path) -> None:
    """The files of processes that no longer run (killed while writing): ours to remove."""
    for path in folder.glob("examples-*.arrow"):
        match = _LEFTOVER.match(path.name)
        if match is None or int(match.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except OSError:  # running, under another user
            pass


def _new_file(folder: Path):
    """A new file for a table in ``folder`` (leftovers there removed first), or, where that folder
    cannot be written (a read-only home), in the system's temporary folder."""
    for where in (folder, Path(tempfile.gettempdir()) / "nlp-tasks-examples"):
        try:
            where.mkdir(parents=True, exist_ok=True)
            _remove_leftovers(where)
            return tempfile.mkstemp(prefix=f"examples-{os.getpid()}-", suffix=".arrow", dir=where)
        except OSError as err:
            problem = err
    raise UserError(f"cannot write the examples' table in {folder} or the temporary folder "
                    f"({problem.strerror or problem}); set NLP_TASKS_CACHE to a folder that can be written")


class ExampleTable(collections.abc.Sequence):
    """Rows of named columns in a memory-mapped Arrow table; ``table[i]`` is a tuple in column order.

    >>> table = ExampleTable.write([(["EU", "rejects"], ["B-ORG", "O"])], {"tokens": "tokens", "tags": "tokens"})
    >>> table[0], len(table)
    ((['EU', 'rejects'], ['B-ORG', 'O']), 1)

    Column kinds: ``"text"`` (a string, or None), ``"tokens"`` (a list of strings).
    """

    KINDS = ("text", "tokens")

    def __init__(self, table, columns: tuple[str, ...]):
        self.table, self.columns = table, tuple(columns)
        self._batches = table.to_batches()  # views of the mapped file: a row is found by its batch
        self._starts = np.cumsum([0] + [batch.num_rows for batch in self._batches])

    @classmethod
    def write(cls, rows, columns: dict[str, str], folder: str | Path | None = None,
              batch_rows: int = BATCH_ROWS) -> ExampleTable:
        """The table of ``rows`` (tuples, one value per column of ``columns``: name -> kind),
        written a ``batch_rows`` at a time and mapped back. An exception from ``rows`` (a reader's
        one-line error) removes the file and goes on up."""
        import pyarrow as pa

        types = {"text": pa.string(), "tokens": pa.list_(pa.string())}
        unknown = set(columns.values()) - set(types)
        if unknown:
            raise ValueError(f"unknown column kind(s) {sorted(unknown)}; kinds are {', '.join(cls.KINDS)}")
        schema = pa.schema([(name, types[kind]) for name, kind in columns.items()])
        fd, name = _new_file(Path(folder) if folder is not None else examples_folder())
        os.close(fd)
        try:
            with pa.OSFile(name, "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
                block: list = []
                for row in rows:
                    block.append(row)
                    if len(block) >= batch_rows:
                        writer.write_batch(_record_batch(block, schema))
                        block = []
                if block:
                    writer.write_batch(_record_batch(block, schema))
            table = pa.ipc.open_file(pa.memory_map(name, "r")).read_all()
        except OSError as err:  # a full disk, say (Arrow's I/O errors are OSErrors)
            raise UserError(f"cannot write the examples' table {name} ({err.strerror or err}); free space there or "
                            "set NLP_TASKS_CACHE to another folder") from None
        finally:
            os.unlink(name)  # the mapping keeps the pages; the name goes now
        return cls(table, tuple(columns))

    # ------------------------------------------------------------------ the Sequence
    def __len__(self) -> int:
        return self.table.num_rows

    def __getitem__(self, index):
        if isinstance(index, slice):  # the rows of the slice only (a block of an evaluation, say)
            return self.take(np.asarray(range(len(self))[index], dtype=np.int64))
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"table indices are integers or slices, not {type(index).__name__}")
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"row {index} of a table of {n}")
        return self.take([int(index) % n])[0]

    def __iter__(self):
        for batch in self.table.to_batches(max_chunksize=BATCH_ROWS):
            yield from self._rows(batch)

    def __eq__(self, other) -> bool:
        if isinstance(other, (ExampleTable, list, tuple)):
            return len(self) == len(other) and all(a == tuple(b) for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return f"ExampleTable({len(self):,} rows of {', '.join(self.columns)})"

    # ------------------------------------------------------------------ reading many rows
    def take(self, indices) -> list[tuple]:
        """The rows at ``indices`` (one batch), in that order: each read from its own batch of
        the file (Arrow's ``take`` over a table of many batches costs ten times more)."""
        indices = np.asarray(indices, dtype=np.int64)
        which = np.searchsorted(self._starts, indices, side="right") - 1
        rows = []
        for batch, index in zip(which.tolist(), (indices - self._starts[which]).tolist()):
            part = self._batches[batch]
            rows.append(tuple(part.column(k)[index].as_py() for k in range(len(self.columns))))
        return rows

    def column(self, name: str):
        """The values of one column, in order, a block at a time."""
        for batch in self.table.select([name]).to_batches(max_chunksize=BATCH_ROWS):
            yield from batch.column(0).to_pylist()

    def lengths(self, name: str) -> np.ndarray:
        """Each row's number of tokens (a tokens column) or characters (a text column)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        column = self.table.column(name)
        if pa.types.is_list(column.type):
            found = pc.list_value_length(column)
        else:
            found = pc.utf8_length(column)
        return found.to_numpy(zero_copy_only=False).astype(np.int64)

    @property
    def nbytes(self) -> int:
        """Bytes of the mapped data."""
        return self.table.nbytes

    def _rows(self, part) -> list[tuple]:
        values = [part.column(i).to_pylist() for i in range(len(self.columns))]
        return list(zip(*values))


def _record_batch(block: list, schema):
    import pyarrow as pa

    return pa.record_batch([pa.array(list(values), type=field.type) for values, field in zip(zip(*block), schema)],
                           schema=schema)


def as_rows(examples, columns: dict[str, str]):
    """``examples`` itself when it is already held (a list or a table), else the table of them."""
    if isinstance(examples, (list, tuple, ExampleTable)):
        return examples
    return ExampleTable.write(examples, columns)


def example_lengths(examples, column: str) -> np.ndarray:
    """Each example's length in tokens (a tokens column; the first value of a list's tuples) or
    characters (a text column)."""
    if isinstance(examples, ExampleTable):
        return examples.lengths(column)
    return np.array([len(example[0]) for example in examples], dtype=np.int64)


def take(examples, indices) -> list:
    """The examples at ``indices``: of a table in one read, of a list by index."""
    if isinstance(examples, ExampleTable):
        return examples.take(indices)
    return [examples[i] for i in indices]
