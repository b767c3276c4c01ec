"""A UTF-8 file read one line at a time, for readers of files that may be larger than memory.

:func:`stream_lines` gives ``(number, line)`` pairs under the same rules as the whole-file readers
of :mod:`nlp_tasks.data.readers`: regular files only, a byte order mark tolerated, lines ending at
``\\n``, ``\\r\\n`` or ``\\r`` only, bad UTF-8 refused naming the line, and a line longer than
:func:`~nlp_tasks.data.readers.max_example_chars` a bad line (an error, or skipped with
``on_bad_lines="skip"``). No more than the maximum example (and a read buffer) is held at once,
however long a line is::

    bad = BadLines(path)
    for number, line in stream_lines(path, bad):
        ...
    bad.report()
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from nlp_tasks.data.readers import BadLines, max_example_chars, too_long
from nlp_tasks.data.sources import open_file
from nlp_tasks.errors import UserError

_ENDS = ("\n", "\r")
_UNDECODED = re.compile("[\udc80-\udcff]")  # a byte that was not UTF-8, kept by surrogateescape


def _without_end(line: str) -> str:
    if line.endswith("\r\n"):
        return line[:-2]
    return line[:-1] if line.endswith(_ENDS) else line


def stream_lines(path: str | Path, bad: BadLines):
    """``(number, line)`` for every line of ``path`` (numbered from 1, line ends removed) no longer
    than the maximum example; a longer line goes to ``bad`` (:class:`BadLines`) and is passed over
    a chunk at a time, never held whole."""
    path = Path(path)
    limit = max_example_chars()
    with open_file(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        number = 0
        while True:
            line = text.readline(limit + 2)  # room for the longest allowed line and "\r\n"
            if not line:
                return
            number += 1
            length = len(_without_end(line))
            if not line.endswith(_ENDS) and len(line) == limit + 2:  # cut short: read on to the line's end
                rest = line
                while rest and not rest.endswith(_ENDS):
                    rest = text.readline(limit + 2)
                    length += len(_without_end(rest))
            undecoded = _UNDECODED.search(line)
            if undecoded:
                byte = ord(undecoded.group()) - 0xDC00
                raise UserError(f"{path}, line {number}: not valid UTF-8 (byte 0x{byte:02x}); "
                                "convert the file to UTF-8")
            problem = too_long(length)
            if problem:
                bad.bad(number, problem)
                continue
            yield number, _without_end(line)
