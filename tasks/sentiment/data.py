"""Sentiment data in: ``(text, label)`` examples from any source the sentiment task reads.

:func:`read_examples` reads ``LABEL text`` lines (the SST files; a PTB tree among them is refused,
not trained on as the label ``'(3'``), CSV/TSV/JSON-lines/JSON with ``text`` and ``label``
columns, a Hugging Face data set (hub name or local folder; a label column read as floats is
refused naming the row), PTB-tree data (:mod:`tasks.sentiment.sst_trees`: sentences, or every labelled
phrase) and Python pairs or dicts. Every label is read into its canonical string
(:func:`nlp_tasks.text.labels.label_text`).
"""

from __future__ import annotations

import math
from pathlib import Path

from nlp_tasks.data.readers import TABLE_SUFFIXES, check_example, read_label_text, read_lines, read_table
from nlp_tasks.data.sources import hub_split, load_hub_dataset, no_split_for_file, resolve_source
from nlp_tasks.errors import UserError
from nlp_tasks.io.json_data import show_value
from nlp_tasks.text.labels import BadLabel, label_text

from . import sst_trees


def read_examples(source, split: str = "train", text_column: str = "text", label_column: str | None = "label",
                  tree_labels: str = "fine", phrases: bool = False, trees_only: bool = False):
    """``[(text, label)]`` from a file, a hub dataset name, or Python pairs/dicts.

    ``label_column=None`` reads texts only (labels ``None``). A hub name may carry its split:
    ``"SetFit/sst5:validation"``; otherwise ``split`` (train/dev/test) picks the usual one.
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

    if isinstance(source, (list, tuple)):
        not_trees("Python examples")
        return [_python_example(item, i) for i, item in enumerate(source, start=1)]
    kind, name, chosen = resolve_source(str(source))
    if kind != "file":  # a local folder or a hub name, "SetFit/sst5:validation", "folder:train[:500]"
        data = load_hub_dataset(name, split=chosen or hub_split(split))
        if "ptb_tree" in data.column_names and text_column not in data.column_names:
            return trees(sst_trees.read_tree_lines(data["ptb_tree"], f"data set {name!r}", "row"))
        not_trees(f"data set {name!r}")
        return _hub_examples(name, data, text_column, label_column)
    no_split_for_file(name, chosen)
    path = Path(name)
    if path.suffix.lower() in TABLE_SUFFIXES:
        not_trees(str(path))
        return [(text, label) for label, text in read_table(path, text_column, label_column)]
    lines = read_lines(path)
    if sst_trees.looks_like_tree(next((line for line in lines if line.strip()), "")):
        return trees(sst_trees.read_tree_lines(lines, str(path)))
    not_trees(str(path))
    if label_column is None:
        texts = [line for line in lines if line.strip()]
        if not texts:
            raise UserError(f"{path}: no examples (the file is empty)")
        return [(text, None) for text in texts]
    return [(text, label) for label, text in read_label_text(path, _tree_among_label_text)]


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


def _hub_examples(name, data, text_column, label_column):
    for column in (text_column, label_column):
        if column is not None and column not in data.column_names:
            raise UserError(f"data set {name!r}: no column {column!r} (columns: {', '.join(data.column_names)})")
    texts = data[text_column]
    for row, text in enumerate(texts, start=1):
        if isinstance(text, str):
            check_example(text, f"data set {name!r}, row {row}")
    if label_column is None:
        return [(text, None) for text in texts]
    labels = data[label_column]
    floats = [row for row, label in enumerate(labels) if isinstance(label, float)]
    if floats:  # a column read as floats: name the value that made it so (inf for a huge integer), else the first
        row = next((r for r in floats if not (math.isfinite(labels[r]) and labels[r].is_integer())), floats[0])
        _label(labels[row], f"data set {name!r}, row {row + 1}")
    return [(text, _label(label, f"data set {name!r}, row {row}"))
            for row, (text, label) in enumerate(zip(texts, labels), start=1)]
