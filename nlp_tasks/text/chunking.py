"""Chunk tags for sequence labelling: schemes, conversion, chunk extraction.

Tags are ``O`` or ``PREFIX-TYPE`` (``B-PER``, ``I-LOC``, ``E-ORG``, ``S-MISC``). Supported
schemes:

- ``iob1`` (CoNLL-2003 original): ``I-`` everywhere, ``B-`` only between two same-type chunks;
- ``iob2`` (BIO): every chunk starts with ``B-``;
- ``bioes`` (BILOU): ``S-`` single-token chunks, ``E-`` chunk ends.

Internally everything is IOB2. :func:`chunks` extracts ``(type, start, end)`` spans exactly as
the conlleval script does (a chunk starts at ``B-``, or at ``I-`` after ``O`` or after another
type; an ``I-`` after ``O`` therefore starts a chunk). These are data conventions: the CoNLL
reader checks and converts tags with them, NER's ``predict`` turns tags into entity spans with
:func:`chunks`, and the conlleval scores over those spans are in :mod:`nlp_tasks.metrics.chunks`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from nlp_tasks.errors import UserError

SCHEMES = ("iob1", "iob2", "bioes")
PREFIXES = {"iob1": "BI", "iob2": "BI", "bioes": "BIES"}


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``."""
    if tag == "O":
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if not sep or not kind or prefix not in ("B", "I", "E", "S"):
        raise UserError(f"invalid tag {tag!r}: expected O or B-/I-/E-/S- followed by a type")
    return prefix, kind


def check_tag(tag: str, scheme: str) -> None:
    prefix, _ = split_tag(tag)
    if prefix != "O" and prefix not in PREFIXES[scheme]:
        raise UserError(f"tag {tag!r} is not valid in the {scheme.upper()} scheme")


def detect_scheme(sentences: Iterable[Sequence[str]]) -> str:
    """Guess the scheme: ``bioes`` if E-/S- occur, ``iob2`` if every chunk starts with B-, else ``iob1``."""
    iob1 = False
    for tags in sentences:
        prev = "O"
        for tag in tags:
            prefix, kind = split_tag(tag)
            if prefix in ("E", "S"):
                return "bioes"
            if prefix == "I":
                p_prefix, p_kind = split_tag(prev)
                if p_prefix == "O" or p_kind != kind:
                    iob1 = True
            prev = tag
    return "iob1" if iob1 else "iob2"


def allowed_transitions(labels: Sequence[str], scheme: str = "iob2") -> list[list[int]]:
    """Which tag may follow which in ``scheme``: a (K+2, K+2) 0/1 matrix over ``labels`` (K of
    them), row = from, column = to, index K the sentence's start and K+1 its end (the layout of
    AllenNLP's ``allowed_transitions``; :meth:`nlp_tasks.layers.CRF.decode` takes it).

    IOB2: ``I-X`` only after ``B-X`` or ``I-X`` (never first, never after ``O`` or another
    type); IOB1 allows every transition; BIOES: ``I-X``/``E-X`` only after ``B-X``/``I-X``,
    ``B``/``S``/``O`` only after the start, ``O``, ``E-`` or ``S-``, and a sentence ends after
    ``O``, ``E-`` or ``S-`` only.
    """
    if scheme not in SCHEMES:
        raise UserError(f"unknown tag scheme {scheme!r} (expected one of {', '.join(SCHEMES)})")
    parts = [split_tag(tag) for tag in labels]
    for tag, (prefix, _) in zip(labels, parts):
        if prefix != "O":
            check_tag(tag, scheme)
    k = len(labels)
    start, end = ("START", ""), ("END", "")
    nodes = parts + [start, end]

    def ok(a, b) -> bool:
        (fp, fk), (tp, tk) = a, b
        if fp == "END" or tp == "START":
            return False
        if scheme == "iob1":
            return True
        if scheme == "iob2":
            return tp != "I" or (fp in ("B", "I") and fk == tk)
        # bioes: inside a chunk only its own I-/E- may follow; outside, only O, B-, S- (or the end)
        inside = fp in ("B", "I")
        if tp == "END":
            return not inside
        if tp in ("I", "E"):
            return inside and fk == tk
        return not inside

    return [[int(ok(a, b)) for b in nodes] for a in nodes[:k + 2]]


def to_iob2(tags: Sequence[str], scheme: str = "iob2") -> list[str]:
    """Convert one sentence's tags from ``scheme`` to IOB2."""
    if scheme not in SCHEMES:
        raise UserError(f"unknown tag scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    out = []
    prev_prefix, prev_kind = "O", ""
    for tag in tags:
        check_tag(tag, scheme)
        prefix, kind = split_tag(tag)
        if prefix == "O":
            out.append("O")
        elif prefix in ("B", "S"):
            out.append(f"B-{kind}")
        else:  # I or E: continues a chunk of the same type, else starts one
            continues = prev_prefix in ("B", "I") and prev_kind == kind
            out.append(f"I-{kind}" if continues else f"B-{kind}")
        # After O, E- or S- no chunk is open; after B- or I- one of type `kind` is.
        prev_prefix, prev_kind = ("O", "") if prefix in ("O", "E", "S") else (prefix, kind)
    return out


def from_iob2(tags: Sequence[str], scheme: str = "iob2") -> list[str]:
    """Convert one sentence's IOB2 tags to ``scheme`` (the inverse of :func:`to_iob2`)."""
    tags = list(tags)
    if scheme == "iob2":
        return tags
    spans = chunks(tags)
    out = ["O"] * len(tags)
    for kind, start, end in spans:
        if scheme == "bioes":
            if end - start == 1:
                out[start] = f"S-{kind}"
            else:
                out[start] = f"B-{kind}"
                out[start + 1:end - 1] = [f"I-{kind}"] * (end - start - 2)
                out[end - 1] = f"E-{kind}"
        elif scheme == "iob1":
            out[start:end] = [f"I-{kind}"] * (end - start)
            if start > 0 and any(k == kind and e == start for k, _, e in spans):
                out[start] = f"B-{kind}"
        else:
            raise UserError(f"unknown tag scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    return out


def _end_of_chunk(prev_prefix, prefix, prev_kind, kind):
    """conlleval's endOfChunk for IOB tags."""
    if prev_prefix in ("B", "I") and prefix in ("B", "O"):
        return True
    return prev_prefix not in ("O", ".") and prev_kind != kind


def _start_of_chunk(prev_prefix, prefix, prev_kind, kind):
    """conlleval's startOfChunk for IOB tags."""
    if prefix == "B":
        return True
    if prev_prefix == "O" and prefix == "I":
        return True
    return prefix not in ("O", ".") and prev_kind != kind


def chunks(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """``(type, start, end)`` spans (end exclusive) of an IOB1/IOB2 tag sequence, as conlleval."""
    spans = []
    start, kind_open = None, ""
    prev_prefix, prev_kind = "O", ""
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, kind = split_tag(tag)
        if prefix in ("E", "S"):
            raise UserError(f"chunks() takes IOB tags; convert {tag!r} with to_iob2(tags, 'bioes') first")
        if start is not None and _end_of_chunk(prev_prefix, prefix, prev_kind, kind):
            spans.append((kind_open, start, i))
            start = None
        if _start_of_chunk(prev_prefix, prefix, prev_kind, kind):
            start, kind_open = i, kind
        prev_prefix, prev_kind = prefix, kind
    return spans
