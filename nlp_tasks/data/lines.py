"""A UTF-8 text file's lines, read a block at a time, and the rules every reader follows.

- :func:`text_lines`      ``(number, line)`` of a file read 4 MiB at a time (memory does not grow
  with the file): lines end at ``\\n``, ``\\r\\n`` or ``\\r`` only, a byte order mark is
  tolerated, bad UTF-8 is refused naming the line, and a line longer than the maximum example is
  counted to its end, never held. :func:`stream_lines` sends such lines to :class:`BadLines` (an
  error, or skipped with ``on_bad_lines="skip"``); :func:`read_lines` gives them in a list.
- :func:`read_text`, :func:`split_lines`: a whole file, and its lines, for what is read whole.
- :func:`reading_options`, :func:`max_example_chars`, :func:`too_long`, :class:`BadLines`: the
  limits and the bad-line policy (:mod:`nlp_tasks.data.readers` gives them too)::

    bad = BadLines(path)
    for number, line in stream_lines(path, bad):
        ...
    bad.report()
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import sys
from pathlib import Path

from nlp_tasks.data.sources import open_file, read_bytes
from nlp_tasks.errors import UserError

MAX_EXAMPLE_CHARS = 1_000_000  # characters in one example (a line, a text, a sentence)
MAX_EXAMPLE_CHARS_ENV = "NLP_TASKS_MAX_EXAMPLE_CHARS"
ON_BAD_LINES = ("error", "skip")

# Set only within reading_options(); a context variable, so threads and tasks each see their own.
_options = contextvars.ContextVar("nlp_tasks_reading_options", default={"max_example_chars": None,
                                                                         "on_bad_lines": "error"})


@contextlib.contextmanager
def reading_options(max_example_chars: int | None = None, on_bad_lines: str | None = None):
    """Within the block, readers use these limits (None keeps the current one)::

        with reading_options(max_example_chars=5_000_000, on_bad_lines="skip"):
            pairs = read_label_text("big.txt")
    """
    if on_bad_lines is not None and on_bad_lines not in ON_BAD_LINES:
        raise UserError(f"on_bad_lines must be one of {', '.join(ON_BAD_LINES)}, got {on_bad_lines!r}")
    if max_example_chars is not None and max_example_chars < 1:
        raise UserError(f"the maximum example length must be >= 1 character, got {max_example_chars!r}")
    options = dict(_options.get())
    if max_example_chars is not None:
        options["max_example_chars"] = int(max_example_chars)
    if on_bad_lines is not None:
        options["on_bad_lines"] = on_bad_lines
    token = _options.set(options)
    try:
        yield
    finally:
        _options.reset(token)


def max_example_chars() -> int:
    """The longest example allowed: :func:`reading_options`, else ``$NLP_TASKS_MAX_EXAMPLE_CHARS``,
    else ``MAX_EXAMPLE_CHARS``."""
    if _options.get()["max_example_chars"] is not None:
        return _options.get()["max_example_chars"]
    raw = os.environ.get(MAX_EXAMPLE_CHARS_ENV, "").strip().replace("_", "")
    if not raw:
        return MAX_EXAMPLE_CHARS
    if not raw.isdigit() or int(raw) < 1:
        raise UserError(f"{MAX_EXAMPLE_CHARS_ENV} must be a whole number of characters >= 1, got {raw!r}")
    return int(raw)


def too_long(length: int) -> str | None:
    """The refusal for an example of ``length`` characters, or None when it is allowed."""
    limit = max_example_chars()
    if length <= limit:
        return None
    return (f"{length:,} characters in one example, more than the maximum {limit:,} "
            f"(raise it with --max-example-chars or ${MAX_EXAMPLE_CHARS_ENV})")


def _longer_than_limit(what: str) -> str:
    return (f"{what} longer than the maximum example of {max_example_chars():,} characters "
            f"(raise it with --max-example-chars or ${MAX_EXAMPLE_CHARS_ENV})")


def check_example(text: str, where: str) -> str:
    """``text`` itself, or a UserError at ``where`` if it is longer than the maximum."""
    problem = too_long(len(text))
    if problem:
        raise UserError(f"{where}: {problem}")
    return text


class BadLines:
    """Where a reader reports a malformed line: an error, or (``on_bad_lines="skip"``) counted
    and reported once by :meth:`report` as a warning naming how many and the first."""

    def __init__(self, path):
        self.path, self.count, self.first = path, 0, None

    def bad(self, number: int, problem: str, what: str = "line") -> None:
        if _options.get()["on_bad_lines"] == "error":
            raise UserError(f"{self.path}, {what} {number}: {problem}")
        self.count += 1
        if self.first is None:
            self.first = f"{what} {number}: {problem}"

    def report(self) -> None:
        if self.count:
            print(f"warning: {self.path}: skipped {self.count} bad line{'s' * (self.count > 1)} "
                  f"(first: {self.first})", file=sys.stderr)


def read_text(path: str | Path) -> str:
    """The whole file as text; a clear error for a missing file, a folder, a FIFO or device, or
    bad UTF-8."""
    path = Path(path)
    data = read_bytes(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise UserError(f"{path}, line {line}: not valid UTF-8 (byte 0x{data[err.start]:02x}); "
                        "convert the file to UTF-8") from None
    return text


_LINE_END = re.compile(r"\r\n|\r|\n")
_LINE_END_KEPT = re.compile(r"(\r\n|\r|\n)")
_OTHER_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")  # str.splitlines also breaks at these


def split_lines(text: str) -> list[str]:
    """Lines without their ends. Only ``\\n``, ``\\r\\n`` and ``\\r`` end a line (not U+2028,
    U+0085, form feeds and the others ``str.splitlines`` also breaks at)."""
    if not _OTHER_BREAKS.search(text):
        return text.splitlines()  # the same lines, faster
    lines = _LINE_END.split(text)
    if lines[-1] == "":
        lines.pop()  # the end of the last line, or an empty text
    return lines


READ_BLOCK = 1 << 22  # bytes read at a time by the line readers (4 MiB)


def text_lines(path: str | Path, keepends: bool = False, block: int = READ_BLOCK, limit: int | None = None):
    """``(number, line)`` for every line of a UTF-8 file, read ``block`` bytes at a time, so that
    memory does not grow with the file. Lines are cut as :func:`split_lines` cuts them (at
    ``\\n``, ``\\r\\n`` or ``\\r``; a BOM dropped), without their ends unless ``keepends``.

    A line longer than ``limit`` (default: the maximum example, :func:`max_example_chars`) is
    never held: it is counted to its end and given as ``(number, length)``, an int in place of
    the text, for the caller to report (:func:`too_long`). Bad UTF-8 is :func:`read_text`'s one-line error, naming
    the line."""
    import codecs

    limit = max_example_chars() if limit is None else limit
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    number, newlines, carry = 0, 0, ""
    skipping = None  # the characters so far of a line too long to hold
    with open_file(path) as handle:
        while True:
            data = handle.read(block)
            final = not data
            try:
                text = decoder.decode(data, final)
            except UnicodeDecodeError as err:
                line = newlines + err.object[: err.start].count(b"\n") + 1
                raise UserError(f"{path}, line {line}: not valid UTF-8 (byte 0x{err.object[err.start]:02x}); "
                                "convert the file to UTF-8") from None
            newlines += data.count(b"\n")
            held = ""
            if not final and text.endswith("\r"):  # perhaps the first half of a \r\n: decided by the next block
                text, held = text[:-1], "\r"
            text = carry + text
            if keepends:  # [line, end, line, end, ..., rest]: each line joined to its end
                parts = _LINE_END_KEPT.split(text)
                pieces = [parts[i] + parts[i + 1] for i in range(0, len(parts) - 1, 2)]
                carry = parts[-1]
            elif _OTHER_BREAKS.search(text):
                pieces = _LINE_END.split(text)
                carry = pieces.pop()
            else:  # the same cuts, faster
                pieces = text.splitlines()
                carry = "" if not text or text[-1] in "\r\n" else pieces.pop()
            for piece in pieces:
                number += 1
                length = len(piece.rstrip("\r\n")) if keepends else len(piece)
                if skipping is not None:  # the end of the over-long line
                    length, skipping = skipping + length, None
                yield number, piece if length <= limit else length
            if skipping is not None or len(carry) > limit:
                skipping = (skipping or 0) + len(carry)
                carry = ""
            carry += held
            if final:
                break
    if skipping is not None:
        yield number + 1, skipping
    elif carry:
        yield number + 1, carry


def read_lines(path: str | Path) -> list[str]:
    """UTF-8 lines without their line ends (``\\n``, ``\\r\\n`` or ``\\r``); a line longer than
    the maximum example is a bad line. (A list: for what is held anyway, as ``--input`` texts;
    :func:`text_lines` streams.)"""
    bad = BadLines(path)
    lines = [line for _, line in numbered_lines(path, bad)]
    bad.report()
    return lines


def numbered_lines(path, bad: BadLines, keepends: bool = False):
    """``(number, line)`` for every line of ``path`` no longer than the maximum example, read a
    block at a time (:func:`text_lines`)."""
    for number, line in text_lines(path, keepends):
        if isinstance(line, int):
            bad.bad(number, too_long(line))
            continue
        yield number, line


stream_lines = numbered_lines  # the name readers of large files (g2p's dictionaries) know it by
