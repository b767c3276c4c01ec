"""Pretrained word vectors: read GloVe / word2vec text files, start an embedding from them.

- :func:`read_word_vectors`   ``({word: vector}, dim)`` from a text file, one vector per line
  (a word2vec ``count dim`` header is skipped); read line by line, files run to gigabytes.
- :func:`vector_dim`          the width, from the first vector line only.
- :func:`with_pretrained`     an embedding matrix with the rows of known words replaced.

Malformed lines stop with one line naming the file and line, like every reader
(:mod:`nlp_tasks.data.readers`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nlp_tasks.data.readers import _longer_than_limit, max_example_chars, open_file, too_long
from nlp_tasks.errors import UserError


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
    """``(number, line)`` pairs read one at a time (vector files run to gigabytes); a line is
    read only up to the maximum example length, so a file without line ends cannot fill memory."""
    limit = max_example_chars()
    with open_file(path) as handle:
        number = 0
        while raw := handle.readline(4 * limit + 2):  # UTF-8: at most 4 bytes a character
            number += 1
            if len(raw) == 4 * limit + 2 and not raw.endswith(b"\n"):
                raise UserError(f"{path}, line {number}: {_longer_than_limit('a line')}")
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise UserError(f"{path}, line {number}: not valid UTF-8; convert the file to UTF-8") from None
            problem = too_long(len(line))
            if problem:
                raise UserError(f"{path}, line {number}: {problem}")
            yield number, line


def with_pretrained(weights: np.ndarray, vocab, vectors: dict, setting: str = "embedding_dim") -> np.ndarray:
    """``weights`` (an embedding matrix, one row per token id) with the row of every token that
    ``vectors`` has (as written, else lower-cased) replaced by its pretrained vector; a width
    other than the vectors' is refused, naming the config ``setting`` that sets it."""
    dim = next(iter(vectors.values())).shape[0]
    if dim != weights.shape[1]:
        raise UserError(f"pretrained vectors have {dim} dimensions but {setting} is {weights.shape[1]}")
    weights = weights.copy()
    for index, token in enumerate(vocab.tokens):
        vector = vectors.get(token)
        if vector is None:
            vector = vectors.get(token.lower())
        if vector is not None:
            weights[index] = vector
    return weights
