"""Readers for the formats users bring.

Readers read a block at a time and yield what they find (``iter_*``), or return it in a list
(``read_*``, for what is held anyway); they raise :class:`UserError` naming the file and line for
anything malformed: non-UTF-8 bytes, a missing field, an empty file.

- :func:`text_lines`          UTF-8 text lines (BOM and CRLF tolerated), a block at a time;
  :func:`read_lines` in a list (:mod:`nlp_tasks.data.lines`, with the limits below).
- :func:`iter_label_text`     ``LABEL text`` lines (the SST files).
- :func:`iter_conll`          CoNLL column files (token ... tag), IOB1/IOB2/BIOES -> IOB2.
- :func:`iter_table`          CSV / TSV / JSON-lines / JSON with named text and label columns.

Labels are read into one canonical string each (:mod:`nlp_tasks.text.labels`); JSON is depth-checked
before it is parsed and an integer too long to convert is kept as its length
(:mod:`nlp_tasks.io.json_data`). Batches (padding, length bucketing, the epoch-aware batch source)
are :mod:`nlp_tasks.batching`; pretrained word vectors (GloVe / word2vec text files) are
:mod:`nlp_tasks.data.vectors`.

Where a source points (a file, a folder, a hub data set, ``name:split``) is
:mod:`nlp_tasks.data.sources`; its functions, and those of :mod:`nlp_tasks.io.json_data` and
:mod:`nlp_tasks.data.lines`, are importable from here too. What a task holds its examples in while
it trains (a memory-mapped Arrow table) is :mod:`nlp_tasks.data.examples`.

Limits: only regular files are read (a FIFO, device or socket is refused before it is opened,
so a read never blocks); one example (a line, a text, a sentence's tokens with their spaces) may
hold at most :func:`max_example_chars` characters (``MAX_EXAMPLE_CHARS``, raised with
``$NLP_TASKS_MAX_EXAMPLE_CHARS`` or ``--max-example-chars``), checked before anything is built
from it; JSON may nest at most ``MAX_JSON_DEPTH`` levels, checked before it is parsed. Lines end
at ``\\n``, ``\\r\\n`` or ``\\r`` only. A malformed line is an error unless ``--on-bad-lines skip``
(:func:`reading_options`) skips it, counted in one warning line on stderr.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from nlp_tasks.data.lines import (  # noqa: F401 - the line readers and reading rules, also reachable from here
    MAX_EXAMPLE_CHARS,
    MAX_EXAMPLE_CHARS_ENV,
    ON_BAD_LINES,
    READ_BLOCK,
    BadLines,
    _longer_than_limit,
    check_example,
    max_example_chars,
    numbered_lines,
    read_lines,
    read_text,
    reading_options,
    split_lines,
    stream_lines,
    text_lines,
    too_long,
)
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

# What a local folder handed to ``datasets`` must hold (at least one file of these kinds).
TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}
CSV_LINE_FIELDS = 4  # a CSV/TSV line may be this many maximum examples long (its fields are checked one by one)


def read_label_text(path: str | Path, line_problem=None) -> list[tuple[str, str]]:
    """``(label, text)`` pairs from lines ``LABEL<space or tab>text`` (:func:`iter_label_text`, in a list)."""
    return list(iter_label_text(path, line_problem))


def iter_label_text(path: str | Path, line_problem=None):
    """``(label, text)`` pairs from lines ``LABEL<space or tab>text``, read a block at a time;
    blank lines skipped; labels canonical (:func:`nlp_tasks.text.labels.label_text`).
    ``line_problem(line)``: what rules a line out in the caller's terms (a PTB tree among
    sentiment lines), or None; such a line is a bad line."""
    found, bad = 0, BadLines(path)
    for number, line in numbered_lines(path, bad):
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
            pair = (label_text(parts[0]), parts[1].strip())
        except BadLabel as err:
            bad.bad(number, str(err))
            continue
        found += 1
        yield pair
    bad.report()
    if not found:
        raise UserError(f"{path}: no examples (the file is {'empty' if not bad.count else 'all bad lines'})")


def read_table(path: str | Path, text_column: str = "text", label_column: str | None = "label") -> list[tuple]:
    """``(label, text)`` pairs (or ``(None, text)`` without a label column) from a table
    (:func:`iter_table`, in a list)."""
    return list(iter_table(path, text_column, label_column))


def iter_table(path: str | Path, text_column: str = "text", label_column: str | None = "label"):
    """``(label, text)`` pairs (or ``(None, text)`` without a label column) from a table.

    The format comes from the suffix: ``.csv``, ``.tsv`` (header row), ``.jsonl`` (one object a
    line) or ``.json`` (a list of objects). Label values may be strings or integers; they are
    returned in their canonical string form (:func:`nlp_tasks.text.labels.label_text`); any other
    label is a bad line. CSV, TSV and JSON lines are read a block at a time; a ``.json`` list is
    parsed whole.
    """
    path = Path(path)
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise UserError(f"{path}: unknown table format {path.suffix!r} (use .csv, .tsv, .jsonl or .json)")
    bad = BadLines(path)
    found = 0
    where = "line" if kind != "json" else "item"
    limit = max_example_chars()
    for number, row in _table_rows(path, kind, bad, text_column, label_column):
        value = row.get(text_column)
        if not isinstance(value, str):
            bad.bad(number, f"missing or non-text {text_column!r}", where)
            continue
        if len(value) > limit:
            bad.bad(number, too_long(len(value)), where)
            continue
        label = None
        if label_column is not None:
            try:
                label = label_text(row.get(label_column))
            except BadLabel as err:
                bad.bad(number, f"{err} (column {label_column!r})", where)
                continue
        found += 1
        yield label, value
    bad.report()
    if not found:
        raise UserError(f"{path}: no examples (the file is {'empty' if not bad.count else 'all bad lines'})")


def _table_rows(path: Path, kind: str, bad: BadLines, text_column: str, label_column: str | None):
    """``(number, row dict)`` of a table file, in order."""
    if kind in ("csv", "tsv"):
        saved = csv.field_size_limit()
        csv.field_size_limit(max_example_chars())  # a longer field stops the reader before it is built
        def lines():
            # A line may hold several fields of the maximum length (the csv module checks each)
            for number, line in text_lines(path, keepends=True, limit=CSV_LINE_FIELDS * max_example_chars()):
                if isinstance(line, int):  # a line no row could be read from: refused before it is built
                    raise UserError(f"{path}, line {number}: {_longer_than_limit('a line')}")
                yield line

        try:
            reader = csv.DictReader(lines(), delimiter="," if kind == "csv" else "\t")
            fields = reader.fieldnames or []
            for column in (text_column, label_column):
                if column is not None and column not in fields:
                    raise UserError(f"{path}: no column {column!r} (columns: {', '.join(fields) or 'none'})")
            for row in reader:
                yield reader.line_num, row
        except csv.Error as err:
            if "field larger than field limit" in str(err):
                raise UserError(f"{path}, line {reader.line_num + 1}: {_longer_than_limit('a field')}") from None
            raise UserError(f"{path}: malformed {kind.upper()} ({err})") from None
        finally:
            csv.field_size_limit(saved)
    elif kind == "jsonl":
        for number, line in text_lines(path):
            if isinstance(line, int):
                bad.bad(number, too_long(line))
                continue
            if not line.strip():
                continue
            try:
                row = _json_object(line, f"{path}, line {number}")
            except UserError as err:
                bad.bad(number, err.message.split(": ", 1)[1])
                continue
            yield number, row
    else:
        text = read_text(path)
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
            yield number, item


def read_conll(path: str | Path, scheme: str = "auto") -> list[tuple[list[str], list[str]]]:
    """``[(tokens, tags)]`` sentences from a CoNLL-style column file (:func:`iter_conll`, in a list)."""
    return list(iter_conll(path, scheme))


def iter_conll(path: str | Path, scheme: str = "auto"):
    """``(tokens, tags)`` sentences from a CoNLL-style column file, tags converted to IOB2, read a
    block at a time.

    Token first, tag last, whitespace- or tab-separated (other columns ignored); a blank line
    between sentences; ``-DOCSTART-`` lines skipped; trailing spaces and CRLF tolerated.
    ``scheme`` is ``iob1``, ``iob2``, ``bioes`` or ``auto`` (detected from the whole file: a first
    pass reads the tags). A sentence's tokens with one space each count as one example for the
    length limit. With ``on_bad_lines="skip"`` a bad line is left out, and a sentence whose tags
    do not convert.
    """
    from nlp_tasks.text.chunking import SCHEMES, detect_scheme, to_iob2

    if scheme != "auto" and scheme not in SCHEMES:
        raise UserError(f"unknown tag scheme {scheme!r}; choose auto or one of {', '.join(SCHEMES)}")
    if scheme == "auto":
        scheme = detect_scheme(tags for _, tags, _ in _conll_sentences(path, BadLines(path)))
    bad = BadLines(path)
    found = 0
    for tokens, tags, first_line in _conll_sentences(path, bad):
        try:
            sentence = (tokens, to_iob2(tags, scheme))
        except UserError as err:
            bad.bad(first_line, err.message, "sentence at line")
            continue
        found += 1
        yield sentence
    bad.report()
    if not found:
        raise UserError(f"{path}: no sentences (every sentence is bad)")


def _conll_sentences(path, bad: BadLines):
    """``(tokens, tags as written, first line)`` of each sentence of a CoNLL file; a file with
    none is an error."""
    from nlp_tasks.text.chunking import split_tag

    tokens: list[str] = []
    tags: list[str] = []
    first_line = 0
    size = 0  # characters of the sentence so far, a space after each token
    found = False
    limit, tags_seen = max_example_chars(), set()  # looked up once: a line's checks cost a set lookup
    for number, line in numbered_lines(path, bad):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if tokens:
                found = True
                yield tokens, tags, first_line
                tokens, tags, size = [], [], 0
            continue
        if len(fields) < 2:
            bad.bad(number, f"a token without a tag ({line.strip()[:40]!r})")
            continue
        if fields[-1] not in tags_seen:
            try:
                split_tag(fields[-1])
            except UserError as err:
                bad.bad(number, err.message)
                continue
            tags_seen.add(fields[-1])
        if not tokens:
            first_line = number
        size += len(fields[0]) + 1
        if size > limit:
            raise UserError(f"{path}, sentence at line {first_line}: {too_long(size)}")
        tokens.append(fields[0])
        tags.append(fields[-1])
    if tokens:
        found = True
        yield tokens, tags, first_line
    if not found:
        bad.report()
        raise UserError(f"{path}: no sentences (the file is {'empty' if not bad.count else 'all bad lines'})")


def _json_object(line: str, where: str) -> dict:
    check_json_depth(line, where)
    try:
        value = parse_data_json(line)
    except json.JSONDecodeError:
        raise UserError(f"{where}: invalid JSON") from None
    if not isinstance(value, dict):
        raise UserError(f"{where}: expected a JSON object")
    return value
