"""``charlm prepare --mode lines``: a corpus of lines (names, titles, log lines, one example a line)
tokenised once into a store of lines (:mod:`nlp_tasks.data.tokenstore`: the ids of every line, and
where each ends), for training ``--mode lines`` on more lines than memory holds.

The store holds exactly what reading the corpus in memory gives in lines mode
(:meth:`tasks.charlm.LanguageModelPipeline.read_training_data`): every non-empty line (a line of
spaces is empty) in order, each bounded by the maximum example length (file and line named),
the last ``valid_fraction`` of the lines as the ``valid`` part, and the vocabulary counted as
that path counts it (the training lines; the whole text, line ends included, without a
validation part). Character lines are encoded a batch of lines at a time through a lookup table
over code points (:mod:`nlp_tasks.text.charcodes`); word lines through the tokenizer.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from nlp_tasks.data.readers import too_long
from nlp_tasks.errors import UserError
from nlp_tasks.text.charcodes import CharCounts, code_points, lookup_table
from nlp_tasks.text.vocab import Vocabulary

from . import data as cd

BATCH_CHARS = 1 << 22  # characters of lines encoded at a time


def document_lines(docs):
    """``(document, line)`` of every non-empty line of ``docs`` (:class:`tasks.charlm.prepared.Documents`),
    each checked against the maximum example length as the in-memory reader checks it."""
    fragments: list[str] = []
    number, last = 0, None
    checked = not docs.name.startswith("builtin:")  # the in-memory reader takes the built-in corpus as it is
    for doc, fragment, ends in cd.line_pieces((d, d, piece) for d, piece in docs.pieces()):
        if doc != last:
            number, last = 0, doc
        fragments.append(fragment)
        if not ends:
            continue
        line, fragments = "".join(fragments), []
        number += 1
        problem = too_long(len(line)) if checked else None
        if problem:
            raise UserError(f"{docs.where(doc)}, line {number}: {problem} (--mode stream reads any length)")
        if line.strip():
            yield doc, line


def parted_lines(docs, fraction: float):
    """``(part, line)``: the first lines ``"train"``, the last ``fraction`` of them ``"valid"``
    (:func:`tasks.charlm.data.split_fraction`'s cut); all ``"train"`` when ``fraction`` is 0."""
    if not fraction:
        yield from (("train", line) for _, line in document_lines(docs))
        return
    total = sum(1 for _ in document_lines(docs))
    cut = int(total * (1 - fraction))
    if not cut or cut == total:
        raise UserError("the corpus is too small to hold out a validation part; give --dev data")
    yield from (("train" if k < cut else "valid", line) for k, (_, line) in enumerate(document_lines(docs)))


def _batches(parted):
    """``(part, [lines])`` of at most :data:`BATCH_CHARS` characters, one part each."""
    batch, size, current = [], 0, None
    for part, line in parted:
        if batch and (part != current or size + len(line) > BATCH_CHARS):
            yield current, batch
            batch, size = [], 0
        batch.append(line)
        size, current = size + len(line), part
    if batch:
        yield current, batch


def count_vocabulary(docs, cfg, progress) -> Vocabulary:
    """The vocabulary the in-memory path builds in lines mode with a validation part: of the
    training lines (without one it counts the whole text, line ends included, as stream mode
    does: :func:`tasks.charlm.prepared.count_vocabulary`)."""
    chars, words, probe = CharCounts(), Counter(), Vocabulary(level="word", lower=cfg.lower)
    found = False
    for part, lines in _batches(progress.step("counting", parted_lines(docs, cfg.valid_fraction))):
        found = True
        if part != "train":
            continue
        if cfg.level == "char":
            chars.add("\n".join(lines))  # a line end joins nothing in NFC; its own count is taken off
            chars.counts[ord("\n")] -= len(lines) - 1
        else:
            for line in lines:
                words.update(probe.tokenize(line))
    if not found:
        raise UserError(f"{docs.name}: the corpus is empty")
    counts = chars.tokens(cfg.lower) if cfg.level == "char" else words
    vocab = Vocabulary.from_counts(counts, cfg.level, cfg.max_vocab, cfg.min_freq, cfg.lower)
    cd.check_vocabulary(vocab, docs.name)
    return vocab


def write_ids(docs, vocab: Vocabulary, cfg, writer, progress) -> None:
    """Each part's lines: their ids one after another, and their lengths."""
    table = lookup_table(vocab) if cfg.level == "char" else None
    lines_seen = False
    for part, lines in _batches(progress.step("encoding", parted_lines(docs, cfg.valid_fraction))):
        lines_seen = True
        if table is not None:
            points = code_points("\n".join(lines))
            ends = np.flatnonzero(points == ord("\n"))
            lengths = np.diff(np.append(ends, points.size), prepend=-1) - 1
            ids = table[points[points != ord("\n")]]
        else:
            encoded = [vocab.encode(line) for line in lines]
            lengths = np.array([len(e) for e in encoded], np.int64)
            ids = np.fromiter((i for e in encoded for i in e), np.int32, count=int(lengths.sum()))
        writer.write(part, ids, lengths)
    if not lines_seen:
        raise UserError(f"{docs.name}: no non-empty lines to train on")
