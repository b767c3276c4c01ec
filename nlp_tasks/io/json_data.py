"""JSON that users bring as data, read without trusting it.

- :func:`json_depth`, :func:`check_json_depth`: how deep arrays and objects nest, found by a cheap
  scan before the text is parsed (Python's parser and ``datasets``' recurse: a 100,000-deep file
  crashes them); deeper than ``MAX_JSON_DEPTH`` is one line naming the line.
- :func:`parse_data_json`: ``json.loads`` that keeps an integer literal of more than
  ``JSON_INT_DIGITS`` digits as a :class:`LongInteger` (Python refuses to convert one of over
  4,300 digits, with a ValueError in the middle of parsing), for the reader to refuse where it
  meets it, naming the line or item.
- :func:`show_value`: a value for an error message, even an integer too long to print.

Saved files (not data) are read by :mod:`nlp_tasks.io.safe_files`, with the same depth scan.
"""

from __future__ import annotations

import json
import re
import sys

import numpy as np

from nlp_tasks.errors import UserError

MAX_JSON_DEPTH = 100  # nesting levels of JSON arrays and objects
JSON_INT_DIGITS = 100  # a longer integer literal in JSON is kept as a LongInteger, never converted


class LongInteger:
    """An integer literal of JSON with more than ``JSON_INT_DIGITS`` digits, kept as its length:
    Python refuses to convert one of over 4,300 digits (a ValueError while the file is parsed),
    and none is a label, a pitch or a count of ours. The reader that meets one refuses it in one
    line naming where."""

    def __init__(self, digits: int):
        self.digits = digits

    def __repr__(self) -> str:
        return f"an integer of {self.digits:,} digits"


def _json_int(literal: str):
    digits = len(literal) - literal.startswith("-")
    return int(literal) if digits <= JSON_INT_DIGITS else LongInteger(digits)


def parse_data_json(text: str | bytes):
    """``json.loads``, but an integer literal too long to be a value of ours becomes a
    :class:`LongInteger` instead of Python's int-conversion ValueError. Check the depth first
    (:func:`check_json_depth`)."""
    return json.loads(text, parse_int=_json_int)


def show_value(value, width: int = 40) -> str:
    """``repr(value)`` cut to ``width`` characters, for an error message; an integer too long to
    print (Python's limit, 4,300 digits), alone or inside a list, is named instead."""
    try:
        return f"{value!r:.{width}}"
    except ValueError:  # Python's int-to-text limit
        if isinstance(value, int):
            return f"an integer of more than {sys.get_int_max_str_digits():,} digits"
        return f"a {type(value).__name__} holding an integer too long to print"


_JSON_STRING = re.compile(rb'"(?:[^"\\\n]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}\n")


def json_depth(data: str | bytes) -> tuple[int, int]:
    """``(depth, line)``: how deep arrays and objects nest in JSON text, and the line where it is
    deepest first. A cheap scan (brackets inside strings ignored), made before ``json.loads``
    or a folder handed to ``datasets``, whose parsers recurse (a 100,000-deep file crashes them)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if b"[" not in data and b"{" not in data:
        return 0, 1
    kept = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    codes = np.frombuffer(kept, dtype=np.uint8)
    if not len(codes):  # every bracket was inside a string
        return 0, 1
    steps = np.zeros(len(codes), dtype=np.int32)
    steps[(codes == ord("[")) | (codes == ord("{"))] = 1
    steps[(codes == ord("]")) | (codes == ord("}"))] = -1
    depth = np.cumsum(steps)
    deepest = int(np.argmax(depth))
    return int(depth[deepest]), kept[:deepest].count(b"\n") + 1


def check_json_depth(data: str | bytes, where: str, limit: int = MAX_JSON_DEPTH) -> None:
    """A one-line error if JSON ``data`` nests deeper than ``limit`` levels."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if data.count(b"[") + data.count(b"{") <= limit:
        return  # too few brackets to nest that deep (most lines of a JSON-lines file)
    depth, line = json_depth(data)
    if depth > limit:
        at = f", line {line}" if ", line " not in where else ""
        raise UserError(f"{where}{at}: JSON nested {depth} levels deep, more than the {limit} allowed")
