"""NER data in: ``(tokens, tags)`` sentences from CoNLL column files, Hugging Face data sets,
Python pairs or the built-in Wikigold corpus, tags converted to IOB2 (:mod:`nlp_tasks.text.chunking`).

``builtin:wikigold`` needs no data folder and no network: Wikigold (Balasuriya et al. 2009; CC BY
4.0), 145 Wikipedia articles (1,696 sentences, 39,007 tokens) tagged PER, LOC, ORG and MISC in
IOB1, shipped gzipped in this package (``builtin/wikigold.conll.gz``; ``builtin/NOTICE.md`` says
where it comes from). Its split is this project's own, by whole documents so that no article
is in two parts: document ``i`` (0-based, in file order) goes to ``train`` when ``i % 10`` is
0-7, to ``dev`` when it is 8 and to ``test`` when it is 9 (117 / 14 / 14 documents; 1,384 / 195
/ 117 sentences). ``builtin:wikigold`` reads the part the reader is asked for (training: train;
evaluation: test), ``builtin:wikigold:dev`` names one. The file is read a line at a time.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from nlp_tasks.data.readers import iter_conll, too_long
from nlp_tasks.data.sources import (
    BUILTIN_PARTS,
    builtin_default_dev,
    builtin_part,
    builtin_part_of,
    hub_split,
    load_hub_dataset,
    no_split_for_file,
    resolve_source,
)
from nlp_tasks.errors import UserError

BUILTIN = "builtin:wikigold"
BUILTIN_FILE = Path(__file__).parent / "builtin" / "wikigold.conll.gz"


COLUMNS = {"tokens": "tokens", "tags": "tokens"}  # a sentence in an ExampleTable


def read_sentences(source, split: str = "train", scheme: str = "auto"):
    """``[(tokens, tags)]`` from a CoNLL file, a hub/local HF dataset, Python pairs, or
    ``builtin:wikigold`` (its ``split`` part, or the one ``builtin:wikigold:SPLIT`` names; its
    tags are IOB1 whatever ``scheme`` says): :func:`iter_sentences` in a list."""
    return list(iter_sentences(source, split, scheme))


def sentence_table(source, split: str = "train", scheme: str = "auto"):
    """The sentences of ``source`` as training and evaluation hold them: a file's or a data set's
    in an :class:`~nlp_tasks.data.examples.ExampleTable` (memory-mapped; nothing per sentence in
    the process), Python pairs and the built-in corpus in a list."""
    from nlp_tasks.data.examples import ExampleTable

    if isinstance(source, (list, tuple)) or builtin_part(source, (BUILTIN,), split) is not None:
        return read_sentences(source, split, scheme)
    return ExampleTable.write(iter_sentences(source, split, scheme), COLUMNS)


def iter_sentences(source, split: str = "train", scheme: str = "auto"):
    """The ``(tokens, tags)`` sentences of ``source`` (see :func:`read_sentences`), one at a
    time: a file and a data set are read a block at a time (twice with ``scheme="auto"``: the
    first pass finds the scheme)."""
    builtin = builtin_part(source, (BUILTIN,), split)
    if builtin is not None:
        yield from wikigold(builtin[1])
        return
    if isinstance(source, (list, tuple)):
        yield from _python_sentences(source, scheme)
        return
    kind, name, chosen = resolve_source(str(source))  # "conll2003:train[:5000]", "folder:test"
    if kind == "file":
        no_split_for_file(name, chosen)
        yield from iter_conll(name, scheme=scheme)
        return
    data = load_hub_dataset(name, split=chosen or hub_split(split))
    for column in ("tokens", "ner_tags"):
        if column not in data.column_names:
            raise UserError(f"data set {name!r}: no column {column!r} (columns: {', '.join(data.column_names)})")
    from nlp_tasks.text.chunking import detect_scheme, to_iob2

    if scheme == "auto":
        scheme = detect_scheme(tags for _, tags in _hub_sentences(name, data))
    for tokens, tags in _hub_sentences(name, data):
        yield tokens, to_iob2(tags, scheme)


def _python_sentences(source, scheme):
    from nlp_tasks.text.chunking import to_iob2

    found = False
    for i, item in enumerate(source, start=1):
        if (not isinstance(item, (list, tuple)) or len(item) != 2 or len(item[0]) != len(item[1])
                or not all(isinstance(t, str) for t in list(item[0]) + list(item[1]))):
            raise UserError(f"sentence {i}: expected (tokens, tags) of equal length")
        problem = too_long(sum(len(t) + 1 for t in item[0]))
        if problem:
            raise UserError(f"sentence {i}: {problem}")
        found = True
        yield list(item[0]), to_iob2(list(item[1]), "iob2" if scheme == "auto" else scheme)
    if not found:
        raise UserError("no sentences given")


def _hub_sentences(name, data, rows: int = 1000):
    """``(tokens, tags as names)`` of a data set's non-empty rows, ``rows`` at a time (a column
    read whole would be a list of every sentence)."""
    feature = data.features["ner_tags"]
    names = getattr(getattr(feature, "feature", None), "names", None)
    row = 0
    for block in data.select_columns(["tokens", "ner_tags"]).iter(batch_size=rows):
        for tokens, tags in zip(block["tokens"], block["ner_tags"]):
            row += 1
            problem = too_long(sum(len(str(t)) + 1 for t in tokens))
            if problem:
                raise UserError(f"data set {name!r}, row {row}: {problem}")
            if tokens:
                yield list(tokens), [names[t] if names and isinstance(t, int) else str(t) for t in tags]


def default_dev(train) -> str | None:
    """``builtin:wikigold:dev`` when training on its train part; else None."""
    return builtin_default_dev(train, (BUILTIN,))


# ------------------------------------------------------------------------------------------ Wikigold
def wikigold_documents(path: str | Path = BUILTIN_FILE):
    """Each document of the Wikigold file, in order: a list of ``(tokens, tags)`` sentences, tags
    as written (IOB1). ``-DOCSTART-`` lines separate the documents, blank lines the sentences;
    read a line at a time."""
    document: list = []
    tokens: list[str] = []
    tags: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            fields = line.split()
            if len(fields) == 2 and fields[0] != "-DOCSTART-":
                tokens.append(fields[0])
                tags.append(fields[1])
                continue
            if fields and fields[0] != "-DOCSTART-":
                raise UserError(f"{path}: not a Wikigold line {line.strip()[:60]!r}")
            if tokens:
                document.append((tokens, tags))
                tokens, tags = [], []
            if fields and document:  # -DOCSTART-: the next document begins
                yield document
                document = []
    if tokens:
        document.append((tokens, tags))
    if document:
        yield document


def wikigold_part(index: int) -> str:
    """``"train"``, ``"dev"`` or ``"test"``: the part of the document at ``index`` (in file order)."""
    return builtin_part_of(index)


def wikigold(part: str = "train") -> list[tuple[list[str], list[str]]]:
    """The sentences of one part of ``builtin:wikigold`` (``train``, ``dev`` or ``test``), tags in IOB2."""
    from nlp_tasks.text.chunking import to_iob2

    if part not in BUILTIN_PARTS:
        raise UserError(f"{BUILTIN}: unknown split {part!r} (its parts are train, dev and test)")
    return [(tokens, to_iob2(tags, "iob1")) for index, document in enumerate(wikigold_documents())
            if wikigold_part(index) == part for tokens, tags in document]
