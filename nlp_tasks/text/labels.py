"""Labels as users write them, read into one canonical string each.

:func:`label_text` turns a label value from any reader (a ``LABEL text`` line, a CSV cell, a JSON
value, a Hugging Face data set row, a Python pair) into the one string its class is known by,
so that ``0``, ``"0"``, ``" 0"`` and ``"\\ufeff0"`` (a byte order mark left inside two joined
files) are one class, not several printed alike; what cannot be a label (a float such as ``0.0``
or ``inf``, an integer of more than ``LABEL_INT_DIGITS`` digits, an empty text) raises
:class:`BadLabel`, which the reader reports naming the file and line or row.
:func:`look_alike_labels` finds two labels that still print the same (invisible characters
inside them).
"""

from __future__ import annotations

import numbers
import re
import sys
import unicodedata

import numpy as np

from nlp_tasks.io.json_data import LongInteger, show_value

LABEL_INT_DIGITS = 18  # an integer label has at most this many digits (it fits in 64 bits)


class BadLabel(ValueError):
    """What is wrong with a label value (the reader adds where it is)."""


_DIGITS = re.compile(r"[+-]?[0-9]+")
_INVISIBLE_EDGES = re.compile(r"^[\s\u200b-\u200f\u2060-\u2064\ufeff]+|[\s\u200b-\u200f\u2060-\u2064\ufeff]+$")


def label_text(value) -> str:
    """A label value as its one canonical string, so that labels written differently but read
    the same are one class: a text without the spaces and invisible marks around it (a byte
    order mark left inside a file made by joining two, a zero-width space) in Unicode NFC form;
    an integer of at most ``LABEL_INT_DIGITS`` digits in decimal (JSON's ``0`` and ``"0"`` are
    the same label); a boolean ``"True"`` or ``"False"``. Anything else raises :class:`BadLabel`:
    a float (``0.0``, ``inf``; never turned into the text "0.0"), a longer integer (or text of
    that many digits: an id column taken for labels), an empty text, no value."""
    if isinstance(value, str):
        text = unicodedata.normalize("NFC", _INVISIBLE_EDGES.sub("", value))
        if not text:
            raise BadLabel("empty label")
        if _DIGITS.fullmatch(text) and len(text.lstrip("+-")) > LABEL_INT_DIGITS:
            raise _too_many_digits(f"{len(text.lstrip('+-')):,}")
        return text
    if isinstance(value, (bool, np.bool_)):  # a yes/no column of a data set: "True" and "False", as before
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        if abs(int(value)) < 10 ** LABEL_INT_DIGITS:
            return str(int(value))
        try:
            digits = f"{len(str(abs(int(value)))):,}"
        except ValueError:  # over Python's limit for printing an integer
            digits = f"more than {sys.get_int_max_str_digits():,}"
        raise _too_many_digits(digits)
    if isinstance(value, LongInteger):
        raise _too_many_digits(f"{value.digits:,}")
    if isinstance(value, numbers.Real):
        raise BadLabel(f"the label is the number {float(value)!r:.30}, not a text or an integer "
                       "(a column of numbers holds floats when one of them is a fraction, missing or an integer "
                       "too large for 64 bits)")
    raise BadLabel("missing or invalid label" if value is None
                   else f"the label {show_value(value)} is not a text or an integer")


def _too_many_digits(digits: str) -> BadLabel:
    return BadLabel(f"the label is an integer of {digits} digits; an integer label has at most "
                    f"{LABEL_INT_DIGITS} digits")


def look_alike_labels(labels) -> tuple[str, str] | None:
    """Two of ``labels`` (canonical, :func:`label_text`) that differ only in invisible
    characters inside them, so that they print the same; None when every label looks its own."""
    seen = {}
    for label in labels:
        visible = "".join(c for c in label if unicodedata.category(c) != "Cf")
        if seen.setdefault(visible, label) != label:
            return seen[visible], label
    return None
