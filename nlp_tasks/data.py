"""Readers for the formats users bring, and length-bucketed batches.

Readers return plain Python lists and raise :class:`UserError` naming the file and line for
anything malformed: non-UTF-8 bytes, a missing field, an empty file.

- :func:`read_lines`          UTF-8 text lines (BOM and CRLF tolerated).
- :func:`read_label_text`     ``LABEL text`` lines (the SST files).
- :func:`read_conll`          CoNLL column files (token ... tag), IOB1/IOB2/BIOES -> IOB2.
- :func:`read_table`          CSV / TSV / JSON-lines / JSON with named text and label columns.
- :func:`load_hub_dataset`    a Hugging Face dataset (hub name or local folder) via ``datasets``.
- :func:`read_word_vectors`   GloVe / word2vec text files.
- :func:`bucketed_batches`    batches of similar length, shuffled as a pure function of
  ``(seed, epoch)``; :func:`batch_dataset` wraps them in a ``tf.data.Dataset``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from nlp_tasks.errors import UserError

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}


def read_text(path: str | Path) -> str:
    """The whole file as text; a clear error for a missing file, a folder, or bad UTF-8."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise UserError(f"{path}, line {line}: not valid UTF-8 (byte 0x{data[err.start]:02x}); "
                        "convert the file to UTF-8") from None
    return text


def read_lines(path: str | Path) -> list[str]:
    """UTF-8 lines without their line ends (``\\n``, ``\\r\\n`` or ``\\r``)."""
    return read_text(path).splitlines()


def read_label_text(path: str | Path) -> list[tuple[str, str]]:
    """``(label, text)`` pairs from lines ``LABEL<space or tab>text``; blank lines skipped."""
    pairs = []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(None, 1)
        if len(parts) < 2 or not parts[1].strip():
            raise UserError(f"{path}, line {number}: expected 'LABEL text', found {line.strip()[:60]!r}")
        pairs.append((parts[0], parts[1].strip()))
    if not pairs:
        raise UserError(f"{path}: no examples (the file is empty)")
    return pairs


def read_table(path: str | Path, text_column: str = "text", label_column: str | None = "label") -> list[tuple]:
    """``(label, text)`` pairs (or ``(None, text)`` without a label column) from a table.

    The format comes from the suffix: ``.csv``, ``.tsv`` (header row), ``.jsonl`` (one object a
    line) or ``.json`` (a list of objects). Label values may be strings or integers; they are
    returned as strings.
    """
    path = Path(path)
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise UserError(f"{path}: unknown table format {path.suffix!r} (use .csv, .tsv, .jsonl or .json)")
    text = read_text(path)
    rows: list[tuple[int, dict]] = []
    if kind in ("csv", "tsv"):
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="," if kind == "csv" else "\t")
            rows = [(reader.line_num, row) for row in reader]
        except csv.Error as err:
            raise UserError(f"{path}: malformed {kind.upper()} ({err})") from None
        fields = reader.fieldnames or []
        for column in (text_column, label_column):
            if column is not None and column not in fields:
                raise UserError(f"{path}: no column {column!r} (columns: {', '.join(fields) or 'none'})")
    elif kind == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                rows.append((number, _json_object(line, f"{path}, line {number}")))
    else:
        try:
            data = json.loads(text)
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
            raise UserError(f"{path}, {where} {number}: missing or non-text {text_column!r}")
        label = None
        if label_column is not None:
            label = row.get(label_column)
            if isinstance(label, bool) or not isinstance(label, (str, int)) or str(label).strip() == "":
                raise UserError(f"{path}, {where} {number}: missing or invalid label {label_column!r}")
            label = str(label).strip()
        pairs.append((label, value))
    if not pairs:
        raise UserError(f"{path}: no examples (the file is empty)")
    return pairs


def read_conll(path: str | Path, scheme: str = "auto") -> list[tuple[list[str], list[str]]]:
    """``[(tokens, tags)]`` sentences from a CoNLL-style column file, tags converted to IOB2.

    Token first, tag last, whitespace- or tab-separated (other columns ignored); a blank line
    between sentences; ``-DOCSTART-`` lines skipped; trailing spaces and CRLF tolerated.
    ``scheme`` is ``iob1``, ``iob2``, ``bioes`` or ``auto`` (detected from the whole file).
    """
    from nlp_tasks.chunking import SCHEMES, detect_scheme, split_tag, to_iob2

    if scheme != "auto" and scheme not in SCHEMES:
        raise UserError(f"unknown tag scheme {scheme!r}; choose auto or one of {', '.join(SCHEMES)}")
    sentences: list[tuple[list[str], list[str], int]] = []
    tokens: list[str] = []
    tags: list[str] = []
    first_line = 0
    for number, line in enumerate(read_lines(path), start=1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if tokens:
                sentences.append((tokens, tags, first_line))
                tokens, tags = [], []
            continue
        if len(fields) < 2:
            raise UserError(f"{path}, line {number}: a token without a tag ({line.strip()[:40]!r})")
        try:
            split_tag(fields[-1])
        except UserError as err:
            raise UserError(f"{path}, line {number}: {err.message}") from None
        if not tokens:
            first_line = number
        tokens.append(fields[0])
        tags.append(fields[-1])
    if tokens:
        sentences.append((tokens, tags, first_line))
    if not sentences:
        raise UserError(f"{path}: no sentences (the file is empty)")
    if scheme == "auto":
        scheme = detect_scheme(t for _, t, _ in sentences)
    out = []
    for tokens, tags, first_line in sentences:
        try:
            out.append((tokens, to_iob2(tags, scheme)))
        except UserError as err:
            raise UserError(f"{path}, sentence at line {first_line}: {err.message}") from None
    return out


def _json_object(line: str, where: str) -> dict:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        raise UserError(f"{where}: invalid JSON") from None
    if not isinstance(value, dict):
        raise UserError(f"{where}: expected a JSON object")
    return value


_HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?(:[\w.\[\]%:-]+)?")
_FILE_SUFFIXES = {".txt", ".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".conll", ".iob", ".bio", ".mid", ".midi"}


def looks_like_hub_name(source: str) -> bool:
    """True for ``name``, ``owner/name`` or ``owner/name:split``; False for anything that looks
    like a path (leading ``/``, ``./``, ``~``, deeper folders, a data-file suffix)."""
    name = source.split(":", 1)[0]
    return bool(_HUB_NAME.fullmatch(source)) and Path(name).suffix.lower() not in _FILE_SUFFIXES


def split_source(source: str) -> tuple[str, str | None]:
    """``"name:split"`` -> ``("name", "split")`` for hub names and local folders alike.

    ``"conll2003:validation"``, ``"/data/my-ner:test"`` (an existing folder and a split); a
    source without a split, or an existing path that contains a colon, comes back whole.
    """
    if Path(source).exists():
        return source, None
    head, sep, tail = source.rpartition(":")
    if sep and head and tail and "/" not in tail and (Path(head).exists() or looks_like_hub_name(source)):
        return head, tail
    return source, None


def load_hub_dataset(name: str, split: str | None = None, **kwargs):
    """``datasets.load_dataset(name, split=...)`` with failures turned into one-line errors.

    ``name`` is a hub name (``"conll2003"``, ``"SetFit/sst5"``) or a local folder/file that
    ``datasets`` can read. Without network access only cached or local data sets load.
    """
    try:
        import datasets
    except ImportError:  # pragma: no cover - a dependency of the package
        raise UserError("reading Hugging Face data sets needs the 'datasets' package") from None
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    try:
        return datasets.load_dataset(name, split=split, **kwargs)
    except Exception as err:  # network, missing split, unknown name: one line, no traceback
        reason = " ".join(str(err).split())[:200] or type(err).__name__
        raise UserError(f"could not load data set {name!r}{f' split {split!r}' if split else ''}: {reason}") from None


def read_word_vectors(path: str | Path, vocabulary=None, dim: int | None = None) -> tuple[dict, int]:
    """Word vectors from a GloVe or word2vec text file: ``({word: vector}, dim)``.

    A word2vec header line (``count dim``) is skipped. With ``vocabulary`` (anything that
    supports ``in``), only its words are kept, which keeps memory small for large files. Lines
    whose width differs from the first vector's are an error naming the line.
    """
    vectors: dict[str, np.ndarray] = {}
    for number, line in _stream_lines(path):
        parts = line.rstrip().split(" ")
        if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
            continue  # word2vec header
        if len(parts) < 2:
            if not line.strip():
                continue
            raise UserError(f"{path}, line {number}: expected 'word v1 v2 ...'")
        if dim is None:
            dim = len(parts) - 1
        if len(parts) - 1 != dim:
            raise UserError(f"{path}, line {number}: {len(parts) - 1} numbers, expected {dim}")
        word = parts[0]
        if vocabulary is not None and word not in vocabulary:
            continue
        try:
            vector = np.asarray(parts[1:], dtype=np.float32)
        except ValueError:
            raise UserError(f"{path}, line {number}: not a number among the vector values") from None
        if not np.all(np.isfinite(vector)):
            raise UserError(f"{path}, line {number}: vector holds NaN or infinity")
        vectors.setdefault(word, vector)
    if dim is None:
        raise UserError(f"{path}: no vectors (the file is empty)")
    return vectors, dim


def vector_dim(path: str | Path) -> int:
    """The dimension of a GloVe/word2vec text file, read from its first vector line only."""
    for number, line in _stream_lines(path):
        parts = line.rstrip().split(" ")
        if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
            return int(parts[1])  # word2vec header: count dim
        if len(parts) >= 2:
            return len(parts) - 1
    raise UserError(f"{path}: no vectors (the file is empty)")


def _stream_lines(path: str | Path):
    """``(number, line)`` pairs read one at a time (vector files run to gigabytes)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {'is a directory, expected a file' if path.is_dir() else 'file not found'}")
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise UserError(f"{path}, line {number}: not valid UTF-8; convert the file to UTF-8") from None
            yield number, line.rstrip("\r\n")


def bucketed_batches(lengths: Sequence[int], batch_size: int, seed: int = 0, epoch: int = 0,
                     shuffle: bool = True, bucket_factor: int = 50) -> list[np.ndarray]:
    """Split example indices into batches of similar length.

    With ``shuffle``, indices are shuffled, cut into pools of ``batch_size * bucket_factor``,
    each pool sorted by length and cut into batches, and the batch order shuffled again: every
    step sees one length and little padding, yet the order changes every epoch. The order is a
    pure function of ``(seed, epoch)``. Without ``shuffle`` (evaluation), examples are sorted by
    length; callers map predictions back with the returned indices.
    """
    if batch_size < 1:
        raise UserError(f"batch size must be >= 1, got {batch_size}")
    lengths = np.asarray(lengths)
    if not shuffle:
        order = np.argsort(lengths, kind="stable")
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    pool = batch_size * bucket_factor
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start:start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def padding_overhead(lengths: Sequence[int], batches: Sequence[np.ndarray]) -> float:
    """Padded tokens / real tokens for a batching (1.0 means no padding at all)."""
    lengths = np.asarray(lengths)
    real = int(lengths.sum())
    padded = sum(int(lengths[b].max()) * len(b) for b in batches if len(b))
    return padded / real if real else math.nan


def batch_dataset(make_batch: Callable[[np.ndarray], tuple], lengths: Sequence[int], batch_size: int,
                  signature, seed: int = 0, shuffle: bool = True):
    """A ``tf.data.Dataset`` of padded batches, re-bucketed (new order) at every epoch.

    ``make_batch(indices)`` returns the arrays of one batch (padded to that batch's longest
    example); ``signature`` is the matching ``tf.TensorSpec`` structure.
    """
    import tensorflow as tf

    state = {"epoch": 0}

    def generator():
        epoch = state["epoch"]
        state["epoch"] += 1
        for indices in bucketed_batches(lengths, batch_size, seed=seed, epoch=epoch, shuffle=shuffle):
            yield make_batch(indices)

    n_batches = len(bucketed_batches(lengths, batch_size, seed=seed, epoch=0, shuffle=shuffle))
    dataset = tf.data.Dataset.from_generator(generator, output_signature=signature)
    # Tell Keras how many batches an epoch has (a generator's count is unknown otherwise).
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(2)
    # Each pass reads the next epoch's order; training.fit sets the epoch explicitly at the start
    # of every epoch, so a resumed run sees epoch k's order, not epoch 0's.
    dataset.epoch_state = state
    return dataset
