"""Characters as NumPy arrays of code points: counting and encoding text for a character
vocabulary without a Python object per character.

:meth:`nlp_tasks.text.vocab.Vocabulary.encode` makes a Python list (a reference, 8 bytes, per
character, before any array is made of it); a corpus of hundreds of megabytes is encoded here
instead, with the same result:

- :func:`code_points`: the text in NFC (as :func:`nlp_tasks.text.vocab.tokenize_chars`) as an
  array (its bytes for ASCII, its UTF-32 otherwise, viewed);
- :class:`CharCounts`: exact counts of every code point, summed piece by piece (a bincount),
  folded into the vocabulary's tokens (lower-cased where it lowers);
- :func:`lookup_table`: the id of every code point under a character vocabulary, so that the ids
  of a text are ``table[code_points(text)]``.

Text must be normalised in pieces that NFC cannot join across: cut at a line end (a line end
never composes with what follows it).
"""

from __future__ import annotations

import functools
import sys
import unicodedata

import numpy as np

from nlp_tasks.text.vocab import UNK_ID, Vocabulary

CODE_POINTS = sys.maxunicode + 1


def code_points(text: str) -> np.ndarray:
    """The code points of ``text`` in NFC, as an unsigned array: ``uint8`` for ASCII text (its
    bytes), else ``uint32`` (its UTF-32, lone surrogates kept as such)."""
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(unicodedata.normalize("NFC", text).encode("utf-32-le", "surrogatepass"), dtype="<u4")


class CharCounts:
    """Exact counts of the code points of every piece :meth:`add` is given."""

    def __init__(self):
        self.counts = np.zeros(CODE_POINTS, np.int64)

    def add(self, text: str) -> None:
        points = code_points(text)
        if points.size:
            found = np.bincount(points)  # up to the largest code point present
            self.counts[:found.size] += found

    def tokens(self, lower: bool = False) -> dict:
        """``{token: count}`` as :meth:`Vocabulary.build` counts characters (``lower``: each
        character lower-cased as the vocabulary lowers it)."""
        normalize, found = Vocabulary(level="char", lower=lower)._normalize, {}
        for point in np.flatnonzero(self.counts).tolist():
            token = normalize(chr(point))
            found[token] = found.get(token, 0) + int(self.counts[point])
        return found


@functools.lru_cache(maxsize=1)
def _lowered() -> tuple:
    """Every code point that lower-casing changes."""
    return tuple(c for c in range(CODE_POINTS) if chr(c).lower() != chr(c))


def lookup_table(vocab: Vocabulary) -> np.ndarray:
    """``table[c]``: the id of code point ``c`` under the character vocabulary ``vocab`` (``<unk>``
    for characters it does not hold), as :meth:`Vocabulary.encode` gives it."""
    if vocab.level != "char":
        raise ValueError("a lookup table needs a character vocabulary")
    table = np.full(CODE_POINTS, UNK_ID, np.int32)
    for index, token in enumerate(vocab.tokens):
        if len(token) == 1:
            table[ord(token)] = index
    if vocab.lower:  # an upper-case character reads as its lower case
        for point in _lowered():
            table[point] = vocab.token_to_id(chr(point))
    return table
