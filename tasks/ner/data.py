"""NER data in: ``(tokens, tags)`` sentences from CoNLL column files, Hugging Face data sets or
Python pairs, tags converted to IOB2 (:mod:`nlp_tasks.text.chunking`)."""

from __future__ import annotations

from nlp_tasks.data.readers import read_conll, too_long
from nlp_tasks.data.sources import hub_split, load_hub_dataset, no_split_for_file, resolve_source
from nlp_tasks.errors import UserError


def read_sentences(source, split: str = "train", scheme: str = "auto"):
    """``[(tokens, tags)]`` from a CoNLL file, a hub/local HF dataset, or Python pairs."""
    if isinstance(source, (list, tuple)):
        out = []
        for i, item in enumerate(source, start=1):
            if (not isinstance(item, (list, tuple)) or len(item) != 2 or len(item[0]) != len(item[1])
                    or not all(isinstance(t, str) for t in list(item[0]) + list(item[1]))):
                raise UserError(f"sentence {i}: expected (tokens, tags) of equal length")
            problem = too_long(sum(len(t) + 1 for t in item[0]))
            if problem:
                raise UserError(f"sentence {i}: {problem}")
            from nlp_tasks.text.chunking import to_iob2

            out.append((list(item[0]), to_iob2(list(item[1]), "iob2" if scheme == "auto" else scheme)))
        if not out:
            raise UserError("no sentences given")
        return out
    kind, name, chosen = resolve_source(str(source))  # "conll2003:train[:5000]", "folder:test"
    if kind == "file":
        no_split_for_file(name, chosen)
        return read_conll(name, scheme=scheme)
    data = load_hub_dataset(name, split=chosen or hub_split(split))
    for column in ("tokens", "ner_tags"):
        if column not in data.column_names:
            raise UserError(f"data set {name!r}: no column {column!r} (columns: {', '.join(data.column_names)})")
    feature = data.features["ner_tags"]
    names = getattr(getattr(feature, "feature", None), "names", None)
    sentences = []
    for row, (tokens, tags) in enumerate(zip(data["tokens"], data["ner_tags"]), start=1):
        problem = too_long(sum(len(str(t)) + 1 for t in tokens))
        if problem:
            raise UserError(f"data set {name!r}, row {row}: {problem}")
        tags = [names[t] if names and isinstance(t, int) else str(t) for t in tags]
        if tokens:
            sentences.append((list(tokens), tags))
    from nlp_tasks.text.chunking import detect_scheme, to_iob2

    scheme = detect_scheme(t for _, t in sentences) if scheme == "auto" else scheme
    return [(tokens, to_iob2(tags, scheme)) for tokens, tags in sentences]
