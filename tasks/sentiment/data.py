"""Sentiment data in: ``(text, label)`` examples from any source the sentiment task reads.

:func:`read_examples` reads ``LABEL text`` lines (the SST files; a PTB tree among them is refused,
not trained on as the label ``'(3'``), CSV/TSV/JSON-lines/JSON with ``text`` and ``label``
columns, a Hugging Face data set (hub name or local folder; a label column read as floats is
refused naming the row), PTB-tree data (:mod:`tasks.sentiment.sst_trees`: sentences, or every labelled
phrase), Python pairs or dicts, and the built-in snippets. Every label is read into its canonical
string (:func:`nlp_tasks.text.labels.label_text`).

``builtin:rt-snippets`` needs no data folder and no network: the 10,605 Rotten Tomatoes snippets
of Pang and Lee's sentence polarity data (CC BY 4.0) with the mean rating, -4..+4, that at least
20 of VADER's raters gave each (Hutto and Gilbert 2014; MIT), shipped gzipped in this package
(``builtin/rt-snippets.tsv.gz``; ``builtin/NOTICE.md`` says where it comes from). Its labels are
five equal-width bins of the scale (:data:`FIVE_BOUNDS`), ``"0"``..``"4"`` like SST-5's, so a
model shows them as ratings 1-5; ``builtin:rt-snippets-binary`` labels a snippet ``"0"`` below 0
and ``"1"`` above it, leaving out the 37 rated exactly 0, like SST-2. A snippet's part is
``int(sha1(text.encode("utf-8")).hexdigest(), 16) % 10``: 0-7 train, 8 dev, 9 test (8,522 / 1,048
/ 1,035 snippets; a text that occurs twice is in one part). ``builtin:rt-snippets`` reads the part
the reader is asked for (training: train; evaluation: test), ``builtin:rt-snippets:dev`` names
one. The file is read a line at a time.
"""

from __future__ import annotations

import bisect
import gzip
import hashlib
import math
from pathlib import Path

from nlp_tasks.data.readers import (
    TABLE_SUFFIXES,
    BadLines,
    check_example,
    iter_label_text,
    iter_table,
    numbered_lines,
    read_lines,
    text_lines,
)
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
from nlp_tasks.io.json_data import show_value
from nlp_tasks.text.labels import BadLabel, label_text

from . import sst_trees

BUILTIN = "builtin:rt-snippets"  # five classes, "0".."4"
BUILTIN_BINARY = "builtin:rt-snippets-binary"  # "0" negative, "1" positive
BUILTINS = (BUILTIN, BUILTIN_BINARY)
BUILTIN_FILE = Path(__file__).parent / "builtin" / "rt-snippets.tsv.gz"
FIVE_BOUNDS = (-2.4, -0.8, 0.8, 2.4)  # class k: [bound k-1, bound k) of -4..4, the last one closed


COLUMNS = {"text": "text", "label": "text"}  # an example in an ExampleTable


def read_examples(source, split: str = "train", text_column: str = "text", label_column: str | None = "label",
                  tree_labels: str = "fine", phrases: bool = False, trees_only: bool = False) -> list:
    """``[(text, label)]`` from a file, a hub dataset name, or Python pairs/dicts: :func:`iter_examples`
    in a list."""
    return list(iter_examples(source, split, text_column, label_column, tree_labels, phrases, trees_only))


def example_table(source, split: str = "train", text_column: str = "text", label_column: str | None = "label",
                  tree_labels: str = "fine", phrases: bool = False, trees_only: bool = False):
    """The examples of ``source`` as training and evaluation hold them: a file's or a data set's in
    an :class:`~nlp_tasks.data.examples.ExampleTable` (memory-mapped; nothing per example in the
    process), Python examples and the built-in snippets in a list."""
    from nlp_tasks.data.examples import ExampleTable

    examples = iter_examples(source, split, text_column, label_column, tree_labels, phrases, trees_only)
    if isinstance(source, (list, tuple)) or builtin_part(source, BUILTINS, split) is not None:
        return list(examples)
    return ExampleTable.write(examples, COLUMNS)


def iter_examples(source, split: str = "train", text_column: str = "text", label_column: str | None = "label",
                  tree_labels: str = "fine", phrases: bool = False, trees_only: bool = False):
    """The ``(text, label)`` examples of a file, a hub dataset name, or Python pairs/dicts, one at
    a time (a file and a data set are read a block at a time; PTB trees are parsed whole).

    ``label_column=None`` reads texts only (labels ``None``). A hub name may carry its split:
    ``"SetFit/sst5:validation"``; otherwise ``split`` (train/dev/test) picks the usual one, as it
    does of ``builtin:rt-snippets`` (``builtin:rt-snippets:dev`` names one).
    PTB-tree data (a file of ``(LABEL ...)`` lines, a data set with a ``ptb_tree`` column; see
    :mod:`tasks.sentiment.sst_trees`) gives its sentences, or with ``phrases`` every distinct labelled
    phrase, labelled as ``tree_labels`` says; ``trees_only`` refuses other data.
    """
    def trees(found):
        examples = (sst_trees.phrase_examples if phrases else sst_trees.sentence_examples)(found, tree_labels)
        return [(text, None if label_column is None else label) for text, label in examples]

    def not_trees(what):
        if trees_only:
            raise UserError(f"{what}: --phrases and --tree-labels binary need PTB-tree data (one '(LABEL ...)' tree "
                            "per line, as in sst/trees/train.txt, or a data set with a ptb_tree column)")

    builtin = builtin_part(source, BUILTINS, split)
    if builtin is not None:
        if trees_only:
            raise UserError(f"{builtin[0]}: --phrases and --tree-labels binary need PTB-tree data; the snippets' "
                            f"two classes are {BUILTIN_BINARY}")
        yield from ((text, None if label_column is None else label)
                    for text, label in rt_snippets(builtin[1], binary=builtin[0] == BUILTIN_BINARY))
        return
    if isinstance(source, (list, tuple)):
        not_trees("Python examples")
        yield from (_python_example(item, i) for i, item in enumerate(source, start=1))
        return
    kind, name, chosen = resolve_source(str(source))
    if kind != "file":  # a local folder or a hub name, "SetFit/sst5:validation", "folder:train[:500]"
        data = load_hub_dataset(name, split=chosen or hub_split(split))
        if "ptb_tree" in data.column_names and text_column not in data.column_names:
            yield from trees(sst_trees.read_tree_lines(data["ptb_tree"], f"data set {name!r}", "row"))
            return
        not_trees(f"data set {name!r}")
        yield from _hub_examples(name, data, text_column, label_column)
        return
    no_split_for_file(name, chosen)
    path = Path(name)
    if path.suffix.lower() in TABLE_SUFFIXES:
        not_trees(str(path))
        yield from ((text, label) for label, text in iter_table(path, text_column, label_column))
        return
    first = next((line for _, line in text_lines(path) if not isinstance(line, str) or line.strip()), "")
    if isinstance(first, str) and sst_trees.looks_like_tree(first):
        yield from trees(sst_trees.read_tree_lines(read_lines(path), str(path)))
        return
    not_trees(str(path))
    if label_column is None:
        bad, found = BadLines(path), False
        for _, line in numbered_lines(path, bad):
            if line.strip():
                found = True
                yield line, None
        bad.report()
        if not found:
            raise UserError(f"{path}: no examples (the file is empty)")
        return
    yield from ((text, label) for label, text in iter_label_text(path, _tree_among_label_text))


def _tree_among_label_text(line: str) -> str | None:
    """A PTB tree in a file whose first line is ``LABEL text``: refused, not trained on as the
    label ``'(3'`` (the format is decided by the first line)."""
    if sst_trees.looks_like_tree(line):
        return ("a PTB tree among 'LABEL text' lines (the first line is 'LABEL text'); the file mixes the two "
                "formats: put the trees in a file of their own")
    return None


def _label(value, where: str):
    """The canonical label (:func:`nlp_tasks.text.labels.label_text`), or a one-line error at ``where``."""
    try:
        return label_text(value)
    except BadLabel as err:
        raise UserError(f"{where}: {err}") from None


def _python_example(item, index):
    if isinstance(item, dict):
        item = (item.get("text"), item.get("label"))
    if not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[0], str):
        raise UserError(f"example {index}: expected (text, label), got {show_value(item, 80)}")
    label = item[1]
    return check_example(item[0], f"example {index}"), None if label is None else _label(label, f"example {index}")


def _hub_examples(name, data, text_column, label_column, rows: int = 1000):
    """The ``(text, label)`` examples of a data set, ``rows`` at a time (a column read whole
    would be a list of every text)."""
    for column in (text_column, label_column):
        if column is not None and column not in data.column_names:
            raise UserError(f"data set {name!r}: no column {column!r} (columns: {', '.join(data.column_names)})")
    columns = [text_column] if label_column is None else [text_column, label_column]
    part = data.select_columns(columns)
    row = 0
    for block in part.iter(batch_size=rows):  # the texts' lengths first, as the whole column was checked
        for text in block[text_column]:
            row += 1
            if isinstance(text, str):
                check_example(text, f"data set {name!r}, row {row}")
    if label_column is not None and _float_column(data, label_column):
        labels = data[label_column]  # a column read as floats: name the value that made it so (inf for a huge
        floats = [row for row, label in enumerate(labels) if isinstance(label, float)]  # integer), else the first
        if floats:
            row = next((r for r in floats if not (math.isfinite(labels[r]) and labels[r].is_integer())), floats[0])
            _label(labels[row], f"data set {name!r}, row {row + 1}")
    row = 0
    for block in part.iter(batch_size=rows):
        labels = block[label_column] if label_column is not None else [None] * len(block[text_column])
        for text, label in zip(block[text_column], labels):
            row += 1
            yield text, None if label_column is None else _label(label, f"data set {name!r}, row {row}")


def _float_column(data, column: str) -> bool:
    """Whether a data set holds ``column`` as floating-point numbers (or of a type not known here)."""
    dtype = getattr(data.features.get(column), "dtype", None)
    return dtype is None or str(dtype).startswith(("float", "double", "half"))


def default_dev(train) -> str | None:
    """The built-in snippets' dev part when training on their train part; else None."""
    return builtin_default_dev(train, BUILTINS)


# ------------------------------------------------------------------------------------------ the snippets
def snippet_part(text: str) -> str:
    """``"train"``, ``"dev"`` or ``"test"``: the part of a snippet, by the sha1 of its text."""
    return builtin_part_of(int(hashlib.sha1(text.encode("utf-8")).hexdigest(), 16))


def five_class(mean: float) -> str:
    """``"0"``..``"4"``: the equal-width bin of the -4..4 scale that ``mean`` falls in (:data:`FIVE_BOUNDS`)."""
    return str(bisect.bisect_right(FIVE_BOUNDS, mean))


def snippet_rows(path: str | Path = BUILTIN_FILE):
    """``(id, mean rating, text)`` of every snippet of the file (tab-separated, a header line),
    read a line at a time."""
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        header = next(lines, "").rstrip("\r\n")
        if header != "id\tsentiment\ttext":
            raise UserError(f"{path}: unexpected header {header[:60]!r}")
        for number, line in enumerate(lines, start=2):
            fields = line.rstrip("\r\n").split("\t")
            if fields == [""]:
                continue
            if len(fields) != 3:
                raise UserError(f"{path}, line {number}: expected id, rating and text")
            yield fields[0], float(fields[1]), fields[2]


def rt_snippets(part: str = "train", binary: bool = False) -> list[tuple[str, str]]:
    """``(text, label)`` of one part (``train``, ``dev``, ``test``) of the built-in snippets: five
    classes (:func:`five_class`), or with ``binary`` ``"0"``/``"1"`` for a mean below/above 0."""
    if part not in BUILTIN_PARTS:
        raise UserError(f"{BUILTIN}: unknown split {part!r} (its parts are train, dev and test)")
    examples = []
    for _, mean, text in snippet_rows():
        if snippet_part(text) != part or (binary and mean == 0):
            continue
        examples.append((text, str(int(mean > 0)) if binary else five_class(mean)))
    return examples
