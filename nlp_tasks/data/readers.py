"""Readers for the formats users bring.

Readers return plain Python lists and raise :class:`UserError` naming the file and line for
anything malformed: non-UTF-8 bytes, a missing field, an empty file.

- :func:`read_lines`          UTF-8 text lines (BOM and CRLF tolerated).
- :func:`read_label_text`     ``LABEL text`` lines (the SST files).
- :func:`read_conll`          CoNLL column files (token ... tag), IOB1/IOB2/BIOES -> IOB2.
- :func:`read_table`          CSV / TSV / JSON-lines / JSON with named text and label columns.

Labels are read into one canonical string each (:mod:`nlp_tasks.text.labels`); JSON is depth-checked
before it is parsed and an integer too long to convert is kept as its length
(:mod:`nlp_tasks.io.json_data`). Batches (padding, length bucketing, the epoch-aware batch source)
are :mod:`nlp_tasks.batching`; pretrained word vectors (GloVe / word2vec text files) are
:mod:`nlp_tasks.data.vectors`.

Where a source points (a file, a folder, a hub data set, ``name:split``) is
:mod:`nlp_tasks.data.sources`; its functions, and those of :mod:`nlp_tasks.io.json_data`, are importable
from here too.

Limits: only regular files are read (a FIFO, device or socket is refused before it is opened,
so a read never blocks); one example (a line, a text, a sentence's tokens with their spaces) may
hold at most :func:`max_example_chars` characters (``MAX_EXAMPLE_CHARS``, raised with
``$NLP_TASKS_MAX_EXAMPLE_CHARS`` or ``--max-example-chars``), checked before anything is built
from it; JSON may nest at most ``MAX_JSON_DEPTH`` levels, checked before it is parsed. Lines end
at ``\\n``, ``\\r\\n`` or ``\\r`` only. A malformed line is an error unless ``--on-bad-lines skip``
(:func:`reading_options`) skips it, counted in one warning line on stderr.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import io
import json
import os
import re
import sys
from pathlib import Path

from nlp_tasks.data.sources import (  # noqa: F401 - the source functions, also reachable from here
    check_file,
    load_hub_dataset,
    looks_like_hub_name,
    no_split_for_file,
    open_file,
    read_bytes,
    resolve_source,
    split_source,
)
from nlp_tasks.errors import UserError
from nlp_tasks.io.json_data import (  # noqa: F401 - also reachable from here
    MAX_JSON_DEPTH,
    check_json_depth,
    json_depth,
    parse_data_json,
)
from nlp_tasks.text.labels import BadLabel, label_text

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}
# What a local folder handed to ``datasets`` must hold (at least one file of these kinds).
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


def read_lines(path: str | Path) -> list[str]:
    """UTF-8 lines without their line ends (``\\n``, ``\\r\\n`` or ``\\r``); a line longer than
    the maximum example is a bad line."""
    lines, bad = [], BadLines(path)
    for number, line in enumerate(split_lines(read_text(path)), start=1):
        problem = too_long(len(line))
        if problem:
            bad.bad(number, problem)
            continue
        lines.append(line)
    bad.report()
    return lines


def _numbered_lines(path, bad: BadLines):
    """``(number, line)`` for every line of ``path`` no longer than the maximum example."""
    for number, line in enumerate(split_lines(read_text(path)), start=1):
        problem = too_long(len(line))
        if problem:
            bad.bad(number, problem)
            continue
        yield number, line


def read_label_text(path: str | Path, line_problem=None) -> list[tuple[str, str]]:
    """``(label, text)`` pairs from lines ``LABEL<space or tab>text``; blank lines skipped;
    labels canonical (:func:`nlp_tasks.text.labels.label_text`). ``line_problem(line)``: what rules
    a line out in the caller's terms (a PTB tree among sentiment lines), or None; such a line
    is a bad line."""
    pairs, bad = [], BadLines(path)
    for number, line in _numbered_lines(path, bad):
        if not line.strip():
            continue
        parts = line.strip().split(None, 1)
        if len(parts) < 2 or not parts[1].strip():
            bad.bad(number, f"expected 'LABEL text', found {line.strip()[:60]!r}")
            continue
        problem = line_problem(line) if line_problem is not None else None
        if problem:
            bad.bad(number, problem)
            continue
        try:
            pairs.append((label_text(parts[0]), parts[1].strip()))
        except BadLabel as err:
            bad.bad(number, str(err))
    bad.report()
    if not pairs:
        raise UserError(f"{path}: no examples (the file is {'empty' if not bad.count else 'all bad lines'})")
    return pairs


def read_table(path: str | Path, text_column: str = "text", label_column: str | None = "label") -> list[tuple]:
    """``(label, text)`` pairs (or ``(None, text)`` without a label column) from a table.

    The format comes from the suffix: ``.csv``, ``.tsv`` (header row), ``.jsonl`` (one object a
    line) or ``.json`` (a list of objects). Label values may be strings or integers; they are
    returned in their canonical string form (:func:`nlp_tasks.text.labels.label_text`); any other
    label is a bad line.
    """
    path = Path(path)
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise UserError(f"{path}: unknown table format {path.suffix!r} (use .csv, .tsv, .jsonl or .json)")
    text = read_text(path)
    rows: list[tuple[int, dict]] = []
    bad = BadLines(path)
    if kind in ("csv", "tsv"):
        saved = csv.field_size_limit()
        csv.field_size_limit(max_example_chars())  # a longer field stops the reader before it is built
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="," if kind == "csv" else "\t")
            rows = [(reader.line_num, row) for row in reader]
        except csv.Error as err:
            if "field larger than field limit" in str(err):
                raise UserError(f"{path}, line {reader.line_num + 1}: {_longer_than_limit('a field')}") from None
            raise UserError(f"{path}: malformed {kind.upper()} ({err})") from None
        finally:
            csv.field_size_limit(saved)
        fields = reader.fieldnames or []
        for column in (text_column, label_column):
            if column is not None and column not in fields:
                raise UserError(f"{path}: no column {column!r} (columns: {', '.join(fields) or 'none'})")
    elif kind == "jsonl":
        for number, line in enumerate(split_lines(text), start=1):
            if not line.strip():
                continue
            problem = too_long(len(line))
            if problem is None:
                try:
                    rows.append((number, _json_object(line, f"{path}, line {number}")))
                    continue
                except UserError as err:
                    problem = err.message.split(": ", 1)[1]
            bad.bad(number, problem)
    else:
        check_json_depth(text, str(path))
        try:
            data = parse_data_json(text)
        except json.JSONDecodeError as err:
            raise UserError(f"{path}, line {err.lineno}: invalid JSON") from None
        if not isinstance(data, list):
            raise UserError(f"{path}: expected a JSON list of objects")
        for number, item in enumerate(data, start=1):
            if not isinstance(item, dict):
                raise UserError(f"{path}: item {number} is not an object")
            rows.append((number, item))
    pairs = []
    where = "line" if kind != "json" else "item"
    for number, row in rows:
        value = row.get(text_column)
        if not isinstance(value, str):
            bad.bad(number, f"missing or non-text {text_column!r}", where)
            continue
        problem = too_long(len(value))
        if problem:
            bad.bad(number, problem, where)
            continue
        label = None
        if label_column is not None:
            try:
                label = label_text(row.get(label_column))
            except BadLabel as err:
                bad.bad(number, f"{err} (column {label_column!r})", where)
                continue
        pairs.append((label, value))
    bad.report()
    if not pairs:
        raise UserError(f"{path}: no examples (the file is {'empty' if not bad.count else 'all bad lines'})")
    return pairs


def read_conll(path: str | Path, scheme: str = "auto") -> list[tuple[list[str], list[str]]]:
    """``[(tokens, tags)]`` sentences from a CoNLL-style column file, tags converted to IOB2.

    Token first, tag last, whitespace- or tab-separated (other columns ignored); a blank line
    between sentences; ``-DOCSTART-`` lines skipped; trailing spaces and CRLF tolerated.
    ``scheme`` is ``iob1``, ``iob2``, ``bioes`` or ``auto`` (detected from the whole file). A
    sentence's tokens with one space each count as one example for the length limit. With
    ``on_bad_lines="skip"`` a bad line is left out, and a sentence whose tags do not convert.
    """
    from nlp_tasks.text.chunking import SCHEMES, detect_scheme, split_tag, to_iob2

    if scheme != "auto" and scheme not in SCHEMES:
        raise UserError(f"unknown tag scheme {scheme!r}; choose auto or one of {', '.join(SCHEMES)}")
    sentences: list[tuple[list[str], list[str], int]] = []
    tokens: list[str] = []
    tags: list[str] = []
    first_line = 0
    size = 0  # characters of the sentence so far, a space after each token
    bad = BadLines(path)
    for number, line in _numbered_lines(path, bad):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if tokens:
                sentences.append((tokens, tags, first_line))
                tokens, tags, size = [], [], 0
            continue
        if len(fields) < 2:
            bad.bad(number, f"a token without a tag ({line.strip()[:40]!r})")
            continue
        try:
            split_tag(fields[-1])
        except UserError as err:
            bad.bad(number, err.message)
            continue
        if not tokens:
            first_line = number
        size += len(fields[0]) + 1
        problem = too_long(size)
        if problem:
            raise UserError(f"{path}, sentence at line {first_line}: {problem}")
        tokens.append(fields[0])
        tags.append(fields[-1])
    if tokens:
        sentences.append((tokens, tags, first_line))
    if not sentences:
        bad.report()
        raise UserError(f"{path}: no sentences (the file is {'empty' if not bad.count else 'all bad lines'})")
    if scheme == "auto":
        scheme = detect_scheme(t for _, t, _ in sentences)
    out = []
    for tokens, tags, first_line in sentences:
        try:
            out.append((tokens, to_iob2(tags, scheme)))
        except UserError as err:
            bad.bad(first_line, err.message, "sentence at line")
    bad.report()
    if not out:
        raise UserError(f"{path}: no sentences (every sentence is bad)")
    return out


def _json_object(line: str, where: str) -> dict:
    check_json_depth(line, where)
    try:
        value = parse_data_json(line)
    except json.JSONDecodeError:
        raise UserError(f"{where}: invalid JSON") from None
    if not isinstance(value, dict):
        raise UserError(f"{where}: expected a JSON object")
    return value
