"""Corpora for the language model: reading them, and laying them out for training.

Sources (``read_corpus``):

- a text file (UTF-8), or a folder of them (every regular file, recursively, in name order);
- a Hugging Face dataset, by hub name or local folder, with a text column (``name:split``
  picks a split, default ``train``);
- ``builtin:python-docs``: the embedded offline default, Python's own reference documentation
  (about 465,000 characters of English prose and code that ships with every CPython as
  ``pydoc_data.topics``; PSF licence), so the demo needs no download.

Two layouts (``mode``):

- ``stream``: the corpus is one long sequence (documents joined by ``<eos>``; at word level each
  line also ends with ``<eos>``). It is cut into ``batch`` parallel rows, each starting with
  ``<bos>`` (the zero input x<1> = 0), and each row into windows of ``window`` steps. Batch k
  holds window k of every row, so a stateful model carries a<t> from one window to the next:
  truncated backpropagation through time (Elman 1990; Sutskever 2013).
- ``lines``: each non-empty line is its own sequence ``<bos> tokens`` -> ``tokens <eos>``,
  starting from a<0> = 0 (the course's dinosaur-name setting); padded, length-bucketed batches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nlp_tasks.data import load_hub_dataset, looks_like_hub_name, read_text, split_source
from nlp_tasks.errors import UserError
from nlp_tasks.vocab import BOS_ID, EOS_ID, PAD_ID, Vocabulary

BUILTIN = "builtin:python-docs"
BUILTIN_CORPORA = (BUILTIN,)
MODES = ("stream", "lines")


def builtin_corpus(name: str = BUILTIN) -> list[str]:
    """The embedded corpus: Python's reference documentation topics, in a fixed order."""
    if name != BUILTIN:
        raise UserError(f"unknown built-in corpus {name!r} (known: {', '.join(BUILTIN_CORPORA)})")
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions strip it
        raise UserError(f"{name}: this Python has no pydoc_data module; give a text file instead") from None
    return ["\n".join(topics[key] for key in sorted(topics))]


def read_corpus(source, text_column: str = "text", split: str = "train") -> list[str]:
    """Documents (strings) from a file, a folder, a hub dataset, the built-in corpus, or a list."""
    if isinstance(source, (list, tuple)):
        docs = list(source)
        for i, doc in enumerate(docs, start=1):
            if not isinstance(doc, str):
                raise UserError(f"corpus document {i}: expected a string, got {type(doc).__name__}")
        return _nonempty(docs, "the corpus")
    name = str(source)
    if name.startswith("builtin:"):
        return builtin_corpus(name)
    name, chosen = split_source(name)  # "folder:validation", "owner/name:test"
    split = chosen or split
    path = Path(name)
    if path.is_file():
        return _nonempty([read_text(path)], str(path))
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not any(
            part.startswith(".") for part in p.relative_to(path).parts))
        if not files:
            raise UserError(f"{path}: the folder has no files")
        if any(p.suffix in (".arrow", ".parquet") or p.name == "dataset_info.json" for p in files):
            return _hub_corpus(str(path), split, text_column)
        return _nonempty([read_text(p) for p in files], str(path))
    if not looks_like_hub_name(name) or name.endswith(".txt"):
        raise UserError(f"{name}: file not found")
    return _hub_corpus(name, split, text_column)


def _hub_corpus(name, split, text_column):
    data = load_hub_dataset(name, split=split)
    if text_column not in data.column_names:
        raise UserError(f"data set {name!r}: no column {text_column!r} (columns: {', '.join(data.column_names)})")
    return _nonempty([t for t in data[text_column] if isinstance(t, str)], name)


def _nonempty(docs, where):
    if not any(doc.strip() for doc in docs):
        raise UserError(f"{where}: the corpus is empty")
    return docs


def check_vocabulary(vocab: Vocabulary, where: str = "the corpus") -> None:
    """A language model needs at least two distinct tokens to have anything to predict."""
    if len(vocab) - 4 < 2:
        raise UserError(f"{where} has {len(vocab) - 4} distinct {vocab.level}(s); a language model needs at least 2")


def lines_of(docs: list[str]) -> list[str]:
    return [line for doc in docs for line in doc.splitlines() if line.strip()]


def encode_stream(docs: list[str], vocab: Vocabulary) -> np.ndarray:
    """The token ids of the whole corpus as one sequence (documents joined by ``<eos>``).

    Characters keep line ends as the character ``"\\n"``; words end each line with ``<eos>``.
    """
    parts: list[list[int]] = []
    for doc in docs:
        if vocab.level == "char":
            parts.append(vocab.encode(doc) + [EOS_ID])
        else:
            parts.append([i for line in doc.splitlines() if line.strip() for i in vocab.encode(line, add_eos=True)])
    ids = np.array([i for part in parts for i in part], dtype=np.int32)
    if vocab.level == "char" and len(ids):
        ids = ids[:-1]  # nothing follows the last document: no <eos> to predict there
    return ids


def encode_lines(lines: list[str], vocab: Vocabulary) -> list[list[int]]:
    return [vocab.encode(line) for line in lines]


def split_fraction(items, fraction: float):
    """The first ``fraction`` of ``items`` and the rest (the tiny-shakespeare 90/10 split)."""
    if not 0 < fraction < 1:
        raise UserError(f"validation fraction must be in (0, 1), got {fraction!r}")
    cut = int(len(items) * (1 - fraction))
    return items[:cut], items[cut:]


def stream_rows(ids: np.ndarray, rows: int, pad_last: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(inputs, targets)`` of shape ``(rows, L)``: ``rows`` contiguous pieces of ``ids``.

    Each row's inputs start with ``<bos>`` and are its targets shifted right by one, so every
    token of a piece is predicted exactly once, the first from the zero input. Training drops
    the last ``len(ids) % rows`` tokens; evaluation (``pad_last``) pads instead, with target 0
    (not counted), so every token is scored.
    """
    if rows < 1:
        raise UserError(f"batch size must be >= 1, got {rows}")
    n = len(ids)
    length = -(-n // rows) if pad_last else n // rows
    if length < 1:
        raise UserError(f"the text has {n} tokens, too few for {rows} parallel rows; use a smaller batch size")
    targets = np.full(rows * length, PAD_ID, dtype=np.int32)
    take = min(n, rows * length)
    targets[:take] = ids[:take]
    targets = targets.reshape(rows, length)
    inputs = np.concatenate([np.full((rows, 1), BOS_ID, dtype=np.int32), targets[:, :-1]], axis=1)
    return inputs, targets


def windows(inputs: np.ndarray, targets: np.ndarray, window: int, drop_last: bool = True):
    """``[(x, y)]`` windows in time order: window k of every row (batch k of a stateful model)."""
    length = inputs.shape[1]
    stops = list(range(window, length + 1, window))
    if not drop_last and (not stops or stops[-1] < length):
        stops.append(length)
    starts = [0] + stops[:-1]
    return [(inputs[:, a:b], targets[:, a:b]) for a, b in zip(starts, stops)]


def line_examples(sequences: list[list[int]]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``<bos> t1 .. tn`` -> ``t1 .. tn <eos>`` for every line."""
    xs = [np.array([BOS_ID] + s, dtype=np.int32) for s in sequences]
    ys = [np.array(s + [EOS_ID], dtype=np.int32) for s in sequences]
    return xs, ys
