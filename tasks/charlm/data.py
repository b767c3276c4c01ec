"""Corpora for the language model: reading them, and laying them out for training.

Sources (``read_corpus``):

- a text file (UTF-8), or a folder of them (every regular file, recursively, in name order);
- a Hugging Face dataset, by hub name or local folder, with a text column (``name:split``
  picks a split, default ``train``; ``name:train[:10%]`` slices it);
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
  A line longer than the maximum example (:func:`nlp_tasks.data.readers.max_example_chars`) is refused.

Characters written with a space between them (PTB's character layout) are detected and warned
about; ``separator`` reads them as intended (:func:`unseparate`).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from nlp_tasks.data.readers import read_text, split_lines, too_long
from nlp_tasks.data.sources import hub_split, load_hub_dataset, no_split_for_file, resolve_source, split_source
from nlp_tasks.data.tokenstore import is_store
from nlp_tasks.errors import UserError
from nlp_tasks.text.vocab import BOS_ID, EOS_ID, PAD_ID, Vocabulary

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


def read_corpus(source, text_column: str = "text", split: str = "train", mode: str = "stream",
                separator: str | None = None, word_boundary: str = "_") -> list[str]:
    """Documents (strings) from a file, a folder, a hub dataset, the built-in corpus, or a list.

    In ``lines`` mode every line is one example, refused (file and line named) beyond the
    maximum example length; ``stream`` mode cuts the text into windows, so lines may be any
    length. ``separator`` reads a file whose characters are separated (PTB's character layout,
    ``a e r _ b a n k``: separator ``" "``, ``word_boundary`` ``_`` read as a space); without it,
    such a layout is read as written, with one warning on stderr.
    """
    if isinstance(source, (list, tuple)):
        docs = list(source)
        for i, doc in enumerate(docs, start=1):
            if not isinstance(doc, str):
                raise UserError(f"corpus document {i}: expected a string, got {type(doc).__name__}")
        return _checked(docs, ["the corpus"] * len(docs), mode, separator, word_boundary, "the corpus")
    name = str(source)
    if name.startswith("builtin:"):
        return builtin_corpus(name)
    if is_store(split_source(name)[0]):
        raise UserError(f"{name}: a prepared token store (charlm prepare) is read by 'charlm train --train' and "
                        "'charlm evaluate --data'; give text here")
    kind, name, chosen = resolve_source(name)  # "folder:validation", "owner/name:test[:10%]"
    split = chosen or hub_split(split)
    if kind == "hub":
        return _hub_corpus(name, split, text_column, mode, separator, word_boundary)
    path = Path(name)
    if kind == "file":
        no_split_for_file(name, chosen)
        return _checked([read_text(path)], [str(path)], mode, separator, word_boundary, str(path))
    files = corpus_files(path)
    if files is None:
        return _hub_corpus(str(path), split, text_column, mode, separator, word_boundary)
    no_split_for_file(name, chosen)
    return _checked([read_text(p) for p in files], [str(p) for p in files], mode, separator, word_boundary,
                    str(path))


def corpus_files(path: Path) -> list[Path] | None:
    """The files of a corpus folder (recursively, in name order, hidden ones left out), or None
    when the folder is a data set that ``datasets`` reads (Arrow or Parquet files)."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise UserError(f"{path}: the folder has no files")
    if any(p.suffix in (".arrow", ".parquet") or p.name == "dataset_info.json" for p in files):
        return None
    return files


def text_dataset(name: str, split: str, text_column: str):
    """A hub data set (or a data set folder) with ``text_column`` checked to be there."""
    data = load_hub_dataset(name, split=split)
    if text_column not in data.column_names:
        raise UserError(f"data set {name!r}: no column {text_column!r} (columns: {', '.join(data.column_names)})")
    return data


def _hub_corpus(name, split, text_column, mode, separator, word_boundary):
    docs = [t for t in text_dataset(name, split, text_column)[text_column] if isinstance(t, str)]
    return _checked(docs, [f"data set {name!r}"] * len(docs), mode, separator, word_boundary, name)


def _checked(docs, wheres, mode, separator, word_boundary, where):
    """``docs`` with the layout applied (or warned about) and, in lines mode, every line bounded."""
    if separator is not None:
        docs = [unseparate(doc, separator, word_boundary) for doc in docs]
    else:
        warn_if_separated(docs, where)
    if mode == "lines":
        for doc, name in zip(docs, wheres):
            for number, line in enumerate(split_lines(doc), start=1):
                problem = too_long(len(line))
                if problem:
                    raise UserError(f"{name}, line {number}: {problem} (--mode stream reads any length)")
    return _nonempty(docs, where)


def unseparate(text: str, separator: str, word_boundary: str = "_") -> str:
    """``"a e r _ b a n k"`` -> ``"aer bank"``: tokens split at ``separator`` are the characters,
    ``word_boundary`` among them is a space; line ends are kept."""
    if not separator:
        raise UserError("the character separator must not be empty")
    out = []
    for line in split_lines(text):
        out.append("".join(" " if token == word_boundary else token for token in line.split(separator) if token))
    return "\n".join(out) + ("\n" if text.endswith(("\n", "\r")) else "")


def looks_separated(lines: list[str]) -> bool:
    """True when most of ``lines`` (of 3+ characters) alternate a non-space and a space:
    characters written with a space between them, PTB's character layout."""
    sample = [line.strip() for line in lines[:1000] if len(line.strip()) >= 3]
    alternating = sum(1 for line in sample if set(line[1::2]) == {" "} and " " not in line[::2])
    return bool(sample) and alternating > len(sample) / 2


def warn_if_separated(docs: list[str], where: str) -> None:
    lines = [line for doc in docs[:100] for line in split_lines(doc[:200_000])]
    if looks_separated(lines):
        print(f"warning: {where}: most lines are characters separated by spaces (PTB's character layout); the "
              "spaces are read as characters, which halves bits per character: give --separator ' ' "
              "(and --word-boundary TOKEN, default _) to read them as separators", file=sys.stderr)


def _nonempty(docs, where):
    if not any(doc.strip() for doc in docs):
        raise UserError(f"{where}: the corpus is empty")
    return docs


def check_vocabulary(vocab: Vocabulary, where: str = "the corpus") -> None:
    """A language model needs at least two distinct tokens to have anything to predict."""
    if len(vocab) - 4 < 2:
        raise UserError(f"{where} has {len(vocab) - 4} distinct {vocab.level}(s); a language model needs at least 2")


def lines_of(docs: list[str]) -> list[str]:
    return [line for doc in docs for line in split_lines(doc) if line.strip()]


def encode_stream(docs: list[str], vocab: Vocabulary) -> np.ndarray:
    """The token ids of the whole corpus as one sequence (documents joined by ``<eos>``).

    Characters keep line ends as the character ``"\\n"``; words end each line with ``<eos>``.
    """
    parts: list[list[int]] = []
    for doc in docs:
        if vocab.level == "char":
            parts.append(vocab.encode(doc) + [EOS_ID])
        else:
            parts.append([i for line in split_lines(doc) if line.strip() for i in vocab.encode(line, add_eos=True)])
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


_SPACE = re.compile(r"\s")


def word_cut(text: str, cut: int) -> int:
    """``cut`` moved forward to the first whitespace at or after it (``len(text)`` if none), so a
    word-level split of one text never cuts a word in two (a character split may: nanoGPT's)."""
    match = _SPACE.search(text, cut)
    return match.start() if match else len(text)


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


class StreamWindows:
    """The windows of :func:`stream_rows` cut by :func:`windows`, each made when it is asked for
    from ``ids`` (an array or a memory-mapped token store): ``len``, ``[k]`` (window k of every
    row, ``(x, y)`` int32 arrays) and iteration in time order. The same arrays as those two
    functions, without a copy of the corpus: a window reads ``rows x window`` ids."""

    def __init__(self, ids, rows: int, window: int, pad_last: bool = False, drop_last: bool = True):
        if rows < 1:
            raise UserError(f"batch size must be >= 1, got {rows}")
        self.ids, self.rows, self.n = ids, rows, len(ids)
        self.length = -(-self.n // rows) if pad_last else self.n // rows
        if self.length < 1:
            raise UserError(f"the text has {self.n} tokens, too few for {rows} parallel rows; use a smaller batch "
                            "size")
        stops = list(range(window, self.length + 1, window))
        if not drop_last and (not stops or stops[-1] < self.length):
            stops.append(self.length)
        self.spans = list(zip([0] + stops[:-1], stops))
        self.starts = (np.arange(rows, dtype=np.int64) * self.length)[:, None]

    def __len__(self) -> int:
        return len(self.spans)

    def _take(self, index: np.ndarray) -> np.ndarray:
        inside = (index >= 0) & (index < min(self.n, self.rows * self.length))
        return np.where(inside, np.asarray(self.ids[np.where(inside, index, 0)]), PAD_ID).astype(np.int32)

    def __getitem__(self, k: int):
        a, b = self.spans[k]
        index = self.starts + np.arange(a, b, dtype=np.int64)[None, :]
        y = self._take(index)
        x = self._take(index - 1)
        if a == 0:
            x[:, 0] = BOS_ID  # each row starts from the zero input x<1>
        return x, y

    def __iter__(self):
        return (self[k] for k in range(len(self)))


def line_examples(sequences) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``<bos> t1 .. tn`` -> ``t1 .. tn <eos>`` for every line (a list of ids, or an array)."""
    xs = [np.concatenate([[BOS_ID], np.asarray(s, dtype=np.int32)]).astype(np.int32) for s in sequences]
    ys = [np.concatenate([np.asarray(s, dtype=np.int32), [EOS_ID]]).astype(np.int32) for s in sequences]
    return xs, ys


def line_lengths(sequences) -> np.ndarray:
    """Each line's number of tokens: of a store's lines without reading them (their ends), else counted."""
    if hasattr(sequences, "lengths"):
        return sequences.lengths()
    return np.array([len(s) for s in sequences], dtype=np.int64)


def line_pieces(pieces):
    """``(part, fragment, ends)`` for every line fragment of ``(part, document, piece)``: ``ends``
    when the fragment ends its line (a line end, or the end of its piece's document or part)."""
    previous = None
    for part, doc, piece in pieces:
        if previous is not None and previous[:2] != (part, doc):
            yield previous[0], "", True  # the document (or the part) ended a line left open
            previous = None
        lines = split_lines(piece)
        closed = piece.endswith(("\n", "\r"))
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            yield part, line, not last or closed
        previous = (part, doc) if lines and not closed else None
    if previous is not None:
        yield previous[0], "", True


class ReversedLines:
    """Each line of ``lines`` (lists, or a store's lines read from its memory map) last token
    first, read when asked for: a backward model's view, nothing copied."""

    def __init__(self, lines):
        self.lines = lines

    def __len__(self) -> int:
        return len(self.lines)

    def __getitem__(self, index):
        return self.lines[index][::-1]

    def __iter__(self):
        return (line[::-1] for line in self.lines)

    def lengths(self) -> np.ndarray:
        return line_lengths(self.lines)


def backwards(sequences):
    """``sequences`` read backwards (``charlm train --reverse``): stream ids as a reversed view of
    the same array (a memory map stays one), lines each reversed (:class:`ReversedLines`); None stays None."""
    if sequences is None:
        return None
    if isinstance(sequences, np.ndarray):
        return sequences[::-1]
    return ReversedLines(sequences)


def as_arrays(sequences) -> list:
    """Stream ids (one array) or line ids (lists) as arrays, for the run's data fingerprint."""
    if sequences is None:
        return []
    if isinstance(sequences, np.ndarray):
        return [sequences]
    return [np.array([len(s) for s in sequences]), np.array([i for s in sequences for i in s], dtype=np.int64)]
