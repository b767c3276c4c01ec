"""The vocabulary's tokenizer and lookups as TensorFlow graph ops, for exported models.

An exported NER or sentiment model takes strings, so the client needs no nlp-tasks: the graph
splits texts into words (:func:`nlp_tasks.text.vocab.tokenize_words`), lower-cases them, looks them
up in the saved vocabulary, and (NER) computes each token's casing class and character ids.

Python's ``re`` and TensorFlow's RE2 disagree on what ``\\w`` and ``\\s`` mean (RE2's are ASCII
only), and RE2 has no ``str.isdigit``/``islower``/``isupper``. So every character class here is
written out as explicit code-point ranges computed from *this* Python's Unicode database
(:func:`char_class`), and the graph makes the same decisions as the Python code for every
character that database knows. Texts and tokens lose their format characters (ZWJ, BOM, ...)
as in :func:`nlp_tasks.text.vocab.normalize_text`; NFC normalisation has no TensorFlow op, so
clients pass NFC text (``unicodedata.normalize("NFC", text)``). Lower-casing is
``tf.strings.lower(encoding="utf-8")`` (ICU's
full case mapping, as Python's ``str.lower``); the tests compare both on a spread of scripts.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

from nlp_tasks.text.vocab import _WORD_RE, UNK_ID, Vocabulary

_SURROGATES = range(0xD800, 0xE000)  # not characters: RE2 (UTF-8) cannot name them


def _ranges(flags) -> list[tuple[int, int]]:
    """``[(first, last)]`` runs of code points where ``flags[c]`` is true."""
    runs, start = [], None
    for c, flag in enumerate(flags):
        if flag and start is None:
            start = c
        elif not flag and start is not None:
            runs.append((start, c - 1))
            start = None
    if start is not None:
        runs.append((start, len(flags) - 1))
    return runs


@functools.lru_cache(maxsize=None)
def _code_points(predicate: str) -> tuple:
    """Runs of the code points (surrogates excluded) that ``predicate`` accepts, from Python."""
    chars = "".join(chr(c) if c not in _SURROGATES else "\0" for c in range(sys.maxunicode + 1))
    if predicate in ("word", "space"):  # what Python's re calls \w and \s
        flags = bytearray(len(chars))
        for m in re.finditer(r"\w+" if predicate == "word" else r"\s+", chars):
            flags[m.start():m.end()] = b"\1" * (m.end() - m.start())
    else:
        test = {"digit": str.isdigit, "lower": str.islower, "upper": str.isupper,
                "title": lambda ch: ch.istitle() and not ch.isupper(),
                "format": lambda ch: unicodedata.category(ch) == "Cf"}[predicate]
        flags = bytearray(test(ch) for ch in chars)
    for c in _SURROGATES:
        flags[c] = 0
    if predicate in ("word", "space"):
        flags[0] = 0  # the stand-in for surrogates above; NUL is neither \w nor \s
    return tuple(_ranges(flags))


def char_class(*predicates: str, negate: bool = False) -> str:
    """An RE2 character class of the code points any of ``predicates`` accepts (``word``,
    ``space``, ``digit``, ``lower``, ``upper``, ``title``, ``format``), e.g. ``[\\x{30}-\\x{39}...]``."""
    runs = sorted({r for p in predicates for r in _code_points(p)})
    body = "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in runs)
    return f"[{'^' if negate else ''}{body}]"


def word_pattern() -> str:
    """:data:`nlp_tasks.text.vocab._WORD_RE` in RE2 syntax with Python's classes spelled out."""
    if _WORD_RE.pattern != r"\w+(?:[-'.,]\w+)*|[^\w\s]":  # the rewrite below is of this pattern
        raise RuntimeError("nlp_tasks.text.vocab's word pattern changed: update nlp_tasks.export.text.word_pattern")
    w = char_class("word")
    return f"{w}+(?:[-'.,]{w}+)*|{char_class('word', 'space', negate=True)}"


def strip_format(strings, keep_empty: bool = False):
    """``strings`` without format characters (Unicode Cf: ZWJ, BOM, soft hyphen, ...), as
    :func:`nlp_tasks.text.vocab.normalize_text` drops them. NFC has no TensorFlow op: clients give
    NFC text. ``keep_empty``: a string of format characters only stays as it was (a token, as
    :func:`nlp_tasks.text.vocab.normalize_token` keeps it)."""
    import tensorflow as tf

    stripped = tf.strings.regex_replace(strings, char_class("format"), "")
    return tf.where(tf.equal(stripped, "") & tf.not_equal(strings, ""), strings, stripped) if keep_empty else stripped


def tokenize(texts):
    """``(batch,)`` strings -> ``(batch, None)`` ragged words, as :func:`nlp_tasks.text.vocab.tokenize_words`
    (for NFC text: see :func:`strip_format`)."""
    import tensorflow as tf

    spaced = tf.strings.regex_replace(strip_format(texts), char_class("space"), " ")  # tokens never hold a space now
    spaced = tf.strings.regex_replace(spaced, word_pattern(), r" \0 ")
    pieces = tf.strings.split(spaced, sep=" ")
    return tf.ragged.boolean_mask(pieces, tf.not_equal(pieces, ""))


def lookup_table(vocab: Vocabulary):
    """A ``tf.lookup`` table from the vocabulary's tokens (specials included) to their ids;
    anything else gives ``<unk>``."""
    import tensorflow as tf

    tokens = vocab.tokens
    init = tf.lookup.KeyValueTensorInitializer(tf.constant(tokens, tf.string),
                                               tf.range(len(tokens), dtype=tf.int32))
    return tf.lookup.StaticHashTable(init, default_value=UNK_ID)


def token_ids(table, vocab: Vocabulary, tokens):
    """Ids of string ``tokens`` (any shape, ragged or not), lower-cased first if ``vocab.lower``."""
    import tensorflow as tf

    if vocab.lower:
        tokens = tf.strings.lower(tokens, encoding="utf-8") if not isinstance(tokens, tf.RaggedTensor) else \
            tf.ragged.map_flat_values(tf.strings.lower, tokens, encoding="utf-8")
    if isinstance(tokens, tf.RaggedTensor):
        return tf.ragged.map_flat_values(table.lookup, tokens)
    return table.lookup(tokens)


def casing_ids(tokens, cases: list[str]):
    """:func:`tasks.ner.casing` of every token of ``tokens (batch, T)`` as graph ops; 0 where the
    token is ``""`` (padding). ``cases``: the class names in id order (``tasks.ner.CASES``)."""
    import tensorflow as tf

    length = tf.cast(tf.strings.length(tokens, unit="UTF8_CHAR"), tf.float32)
    without_digits = tf.strings.regex_replace(tokens, char_class("digit"), "")
    digits = length - tf.cast(tf.strings.length(without_digits, unit="UTF8_CHAR"), tf.float32)

    def full(pattern):
        return tf.strings.regex_full_match(tokens, pattern)

    # str.islower: some cased character and no upper- or title-case one; str.isupper alike.
    lower = full(f"{char_class('lower', 'upper', 'title', negate=True)}*{char_class('lower')}"
                 f"{char_class('upper', 'title', negate=True)}*")
    upper = full(f"{char_class('upper', 'lower', 'title', negate=True)}*{char_class('upper')}"
                 f"{char_class('lower', 'title', negate=True)}*")
    first_upper = full(f"(?s){char_class('upper')}.*")  # token[:1].isupper()
    numeric = tf.logical_and(length > 0, tf.equal(digits, length))  # str.isdigit of the token
    mostly = digits / tf.maximum(length, 1.0) > 0.5
    ids = tf.fill(tf.shape(tokens), cases.index("other"))
    # Python tests numeric first; applying the rules from last to first gives the first that holds.
    for condition, name in ((digits > 0, "has_digit"), (first_upper, "title"), (upper, "upper"),
                            (lower, "lower"), (mostly, "mostly_numeric"), (numeric, "numeric")):
        ids = tf.where(condition, cases.index(name), ids)
    return tf.where(tf.equal(tokens, ""), 0, ids)


def char_ids(table, tokens, max_chars: int):
    """``(batch, T, <= max_chars)`` character ids of each token's first ``max_chars`` characters
    (0 past a token's end and for ``""`` tokens)."""
    import tensorflow as tf

    chars = tf.strings.unicode_split(tokens, "UTF-8")[:, :, :max_chars]
    ids = tf.ragged.map_flat_values(table.lookup, chars)
    return ids.to_tensor(default_value=0)


NORMALIZATION = ("give NFC text (Python: unicodedata.normalize('NFC', text)); the string endpoints drop format "
                 "characters (Unicode Cf: ZWJ, BOM, soft hyphen) themselves")


def one_more_step(ids):
    """A padding column after the last: every batch then has at least one step (an empty text)."""
    import tensorflow as tf

    extra = tf.zeros_like(ids[:, :1]) if ids.shape.rank == 2 else tf.zeros_like(ids[:, :1, :])
    return tf.concat([ids, extra], axis=1)
