"""Vocabulary and tokenizers, shared by every task.

A :class:`Vocabulary` maps tokens (words or characters) to integer ids and back:

- reserved specials first, always at the same ids: ``<pad>`` = 0, ``<unk>`` = 1, ``<bos>`` = 2,
  ``<eos>`` = 3 (padding is id 0 everywhere, so ``Embedding(mask_zero=True)`` masks it);
- then the ``max_size`` most frequent tokens seen at least ``min_freq`` times, most frequent
  first, ties broken by the token's code points, so the same counts always give the same ids
  whatever order the corpus was read in;
- anything else encodes as ``<unk>``.

Word level splits text with :func:`tokenize_words` (or takes tokens the caller already split,
such as CoNLL columns); character level treats every Unicode code point as a token, so
``decode(encode(text)) == text`` for any NFC text whose characters are all in the vocabulary.
Text is normalised first (:func:`normalize_text`: NFC, and at word level without invisible
format characters), so composed and decomposed spellings give the same tokens.

Pure Python and NumPy; no TensorFlow.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from nlp_tasks.errors import UserError
from nlp_tasks.io.paths import atomic_write
from nlp_tasks.io.safe_files import parse_json

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
LEVELS = ("word", "char")
FORMAT = "nlp_tasks.vocabulary"
FORMAT_VERSION = 1
MAX_FILE_BYTES = 1 << 30  # a saved vocabulary of millions of words is tens of MB

# Words, numbers with inner separators (3.14, 1,000), contractions (don't), or single symbols.
_WORD_RE = re.compile(r"\w+(?:[-'.,]\w+)*|[^\w\s]", re.UNICODE)


# ---------------------------------------------------------------------- normalisation
# The same text can be spelled with other code points: "München" composed (NFC, U+00FC) or
# decomposed (NFD, "u" + U+0308), and with invisible format characters (zero-width joiners,
# a byte-order mark, soft hyphens: Unicode category Cf). Word-level text is normalised before it
# is split, so all spellings give the same tokens and no invisible token is ever made; character
# level is normalised to NFC only (a character model may well have seen a ZWJ in emoji).
@functools.lru_cache(maxsize=1)
def _format_chars() -> re.Pattern:
    """Every format character (category Cf) this Python's Unicode database knows."""
    codes = [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    return re.compile("[" + "".join(re.escape(chr(c)) for c in codes) + "]")


def normalize_text(text: str) -> str:
    """``text`` in NFC with format characters (ZWJ, BOM, soft hyphen, ...) removed."""
    if text.isascii():
        return text
    return _format_chars().sub("", unicodedata.normalize("NFC", text))


def normalize_token(token: str) -> str:
    """One pre-split token normalised like text; a token of format characters only stays (NFC):
    the caller's token count is kept, and the token is simply unknown to the vocabulary."""
    return normalize_text(token) or unicodedata.normalize("NFC", token)


def _clusters(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` spans of ``text`` that NFC never joins across: a new span begins at a
    character of combining class 0 that does not compose with the span before it (Hangul jamo
    and a few vowel signs are starters that do)."""
    spans, start = [], 0
    for i in range(1, len(text)):
        c, before = text[i], unicodedata.normalize("NFC", text[start:i])
        if unicodedata.combining(c) == 0 and unicodedata.normalize("NFC", before + c) == before + c:
            spans.append((start, i))
            start = i
    return [*spans, (start, len(text))] if text else []


def tokenize_words(text: str) -> list[str]:
    """Split text into words and punctuation marks: ``"Don't panic!"`` -> ``["Don't", "panic", "!"]``
    (normalised first: :func:`normalize_text`)."""
    return [m.group(0) for m in _WORD_RE.finditer(normalize_text(text))]


def tokenize_words_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """Like :func:`tokenize_words`, with each token's ``start`` and ``end`` character offsets
    into the text as given (before normalisation): ``text[start:end]`` is the token's spelling there."""
    normal = normalize_text(text)
    if normal == text:
        return [(m.group(0), m.start(), m.end()) for m in _WORD_RE.finditer(text)]
    begins, ends = [], []  # for each character of `normal`, the span of `text` it came from
    for start, end in _clusters(text):
        piece = normalize_text(text[start:end])
        begins += [start] * len(piece)
        ends += [end] * len(piece)
    if len(begins) != len(normal):  # normalising piece by piece disagreed: map to the whole text
        begins, ends = [0] * len(normal), [len(text)] * len(normal)
    return [(m.group(0), begins[m.start()], ends[m.end() - 1]) for m in _WORD_RE.finditer(normal)]


def tokenize_chars(text: str) -> list[str]:
    """One token per Unicode code point of the text in NFC."""
    return list(text if text.isascii() else unicodedata.normalize("NFC", text))


class Vocabulary:
    """Token <-> id mapping with reserved specials; see the module docstring.

    Build one with :meth:`build` from an iterable of texts or token lists; save it with
    :meth:`save` and read it back with :meth:`load`.
    """

    def __init__(self, tokens: Sequence[str] = (), level: str = "word", lower: bool = False):
        if level not in LEVELS:
            raise UserError(f"vocabulary level must be one of {', '.join(LEVELS)}, got {level!r}")
        self.level = level
        self.lower = bool(lower)
        self._itos: list[str] = list(SPECIALS)
        self._stoi: dict[str, int] = {tok: i for i, tok in enumerate(SPECIALS)}
        self.counts: dict[str, int] = {}  # filled by build(); not saved
        for token in tokens:
            if not isinstance(token, str) or token == "":
                raise UserError(f"vocabulary tokens must be non-empty strings, got {token!r}")
            if token in self._stoi:
                if token in SPECIALS:
                    continue
                raise UserError(f"duplicate vocabulary token {token!r}")
            self._stoi[token] = len(self._itos)
            self._itos.append(token)

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        corpus: Iterable[str | Sequence[str]],
        level: str = "word",
        max_size: int | None = None,
        min_freq: int = 1,
        lower: bool = False,
    ) -> Vocabulary:
        """Count tokens in ``corpus`` (texts, or lists of tokens) and keep the most frequent.

        ``max_size`` counts ordinary tokens only (the four specials come on top); ``None``
        keeps every token seen at least ``min_freq`` times.
        """
        if max_size is not None and (not isinstance(max_size, int) or max_size < 0):
            raise UserError(f"max_size must be a non-negative integer or None, got {max_size!r}")
        if not isinstance(min_freq, int) or min_freq < 1:
            raise UserError(f"min_freq must be an integer >= 1, got {min_freq!r}")
        probe = cls(level=level, lower=lower)
        counts: Counter[str] = Counter()
        for item in corpus:
            counts.update(tok for tok in probe.tokenize(item) if tok not in probe._stoi)
        return cls.from_counts(counts, level, max_size, min_freq, lower)

    @classmethod
    def from_counts(cls, counts: dict, level: str = "word", max_size: int | None = None, min_freq: int = 1,
                    lower: bool = False) -> Vocabulary:
        """:meth:`build` from ``{token: count}`` counted elsewhere (tokens already normalised, no
        specials), as a corpus read in pieces counts them (:mod:`nlp_tasks.text.charcodes`)."""
        # Most frequent first; ties in code-point order, independent of reading order.
        ranked = sorted((tok for tok, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[:max_size]
        vocab = cls(ranked, level=level, lower=lower)
        vocab.counts = {tok: counts[tok] for tok in ranked}
        return vocab

    # ------------------------------------------------------------------ lookup
    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: str) -> bool:
        return self._normalize(token) in self._stoi

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Vocabulary)
            and self._itos == other._itos
            and self.level == other.level
            and self.lower == other.lower
        )

    def __repr__(self) -> str:
        return f"Vocabulary(level={self.level!r}, size={len(self)}, lower={self.lower})"

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order, specials included."""
        return list(self._itos)

    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID

    def _normalize(self, token: str) -> str:
        if not self.lower or token in SPECIALS:
            return token
        lowered = token.lower()  # a character whose lower case is two (U+0130) stays itself: one token, one character
        return token if self.level == "char" and len(lowered) != len(token) else lowered

    def tokenize(self, text: str | Sequence[str]) -> list[str]:
        """Split a string by this vocabulary's level; a list of tokens is passed through."""
        if isinstance(text, str):
            tokens = tokenize_chars(text) if self.level == "char" else tokenize_words(text)
        elif isinstance(text, Sequence):
            tokens = list(text)
            for tok in tokens:
                if not isinstance(tok, str):
                    raise UserError(f"tokens must be strings, got {tok!r}")
            tokens = [normalize_token(tok) for tok in tokens] if self.level == "word" else tokens
        else:
            raise UserError(f"expected a string or a list of tokens, got {type(text).__name__}")
        return [self._normalize(tok) for tok in tokens]

    def token_to_id(self, token: str) -> int:
        return self._stoi.get(self._normalize(token), UNK_ID)

    def id_to_token(self, index: int) -> str:
        if not 0 <= int(index) < len(self._itos):
            raise UserError(f"token id {index} is outside the vocabulary (size {len(self)})")
        return self._itos[int(index)]

    # ------------------------------------------------------------------ encode / decode
    def encode(self, text: str | Sequence[str], add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Token ids of one text (or token list); unknown tokens become ``<unk>`` (id 1)."""
        ids = [self._stoi.get(tok, UNK_ID) for tok in self.tokenize(text)]
        if add_bos:
            ids.insert(0, BOS_ID)
        if add_eos:
            ids.append(EOS_ID)
        return ids

    def encode_batch(
        self,
        texts: Iterable[str | Sequence[str]],
        add_bos: bool = False,
        add_eos: bool = False,
        maxlen: int | None = None,
        truncate: str = "post",
    ) -> np.ndarray:
        """Encode several texts into one ``(batch, length)`` int32 array padded with id 0.

        ``length`` is the longest sequence, or ``maxlen`` (longer ones are cut at the end, or
        at the start with ``truncate="pre"``).
        """
        return pad_sequences(
            [self.encode(t, add_bos=add_bos, add_eos=add_eos) for t in texts], maxlen=maxlen, truncate=truncate
        )

    def decode(self, ids: Iterable[int], skip_specials: bool = True, join: bool = True) -> str | list[str]:
        """Tokens of ``ids``; padding always dropped, other specials dropped unless asked.

        ``<unk>`` is kept (as the string ``"<unk>"``). Joined into a string (``""`` for
        characters, ``" "`` for words) unless ``join=False``.
        """
        tokens = []
        for index in np.asarray(ids, dtype=np.int64).reshape(-1).tolist():
            if index == PAD_ID or (skip_specials and index in (BOS_ID, EOS_ID)):
                continue
            tokens.append(self.id_to_token(index))
        if not join:
            return tokens
        return ("" if self.level == "char" else " ").join(tokens)

    def decode_batch(self, batch: Iterable[Iterable[int]], skip_specials: bool = True, join: bool = True) -> list:
        """:meth:`decode` for each row of a padded batch."""
        return [self.decode(row, skip_specials=skip_specials, join=join) for row in batch]

    def one_hot(self, ids, dtype=np.float32) -> np.ndarray:
        """One-hot vectors of shape ``ids.shape + (len(self),)``; padding (id 0) is all zeros."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise UserError(f"token ids must lie in [0, {len(self)}), got values {ids.min()}..{ids.max()}")
        out = np.zeros(ids.shape + (len(self),), dtype=dtype)
        np.put_along_axis(out, ids[..., None], 1, axis=-1)
        out[..., PAD_ID] = 0
        return out

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "level": self.level,
            "lower": self.lower,
            "specials": list(SPECIALS),
            "tokens": self._itos[len(SPECIALS):],
        }

    @classmethod
    def from_dict(cls, data: object, source: str = "vocabulary") -> Vocabulary:
        """Rebuild from :meth:`to_dict` output, checking every field."""
        if not isinstance(data, dict):
            raise UserError(f"{source}: not a vocabulary (expected a JSON object)")
        if data.get("format") != FORMAT:
            raise UserError(f"{source}: not a vocabulary file (format is {data.get('format')!r}, expected {FORMAT!r})")
        if data.get("version") != FORMAT_VERSION:
            raise UserError(
                f"{source}: vocabulary format version {data.get('version')!r} is not supported "
                f"(this nlp-tasks reads version {FORMAT_VERSION})"
            )
        if data.get("specials") != list(SPECIALS):
            raise UserError(f"{source}: specials {data.get('specials')!r} differ from {list(SPECIALS)!r}")
        tokens = data.get("tokens")
        if not isinstance(tokens, list):
            raise UserError(f"{source}: 'tokens' must be a list")
        if not isinstance(data.get("lower", False), bool):
            raise UserError(f"{source}: 'lower' must be true or false")
        if any(tok in SPECIALS for tok in tokens):
            raise UserError(f"{source}: a special token appears among the ordinary tokens")
        if data.get("level") == "char" and any(isinstance(t, str) and len(t) != 1 for t in tokens):
            raise UserError(f"{source}: a character vocabulary holds a token that is not one character")
        try:
            return cls(tokens, level=data.get("level"), lower=data.get("lower", False))
        except UserError as err:
            raise UserError(f"{source}: {err.message}") from None

    def save(self, path: str | Path) -> None:
        """Write JSON atomically (temporary file, then rename)."""
        try:
            with atomic_write(path) as handle:
                json.dump(self.to_dict(), handle, ensure_ascii=False, indent=0)
                handle.write("\n")
        except UnicodeEncodeError as err:
            raise UserError(f"{path}: vocabulary holds text that cannot be written as UTF-8 ({err.reason})") from None

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """Read a file written by :meth:`save`; a clear :class:`UserError` if it is not one."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: vocabulary file not found")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise UserError(f"{path}: vocabulary file larger than {MAX_FILE_BYTES} bytes")
        try:
            data = parse_json(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            raise UserError(f"{path}: vocabulary file is not UTF-8") from None
        except json.JSONDecodeError as err:
            raise UserError(f"{path}: corrupt vocabulary file (invalid JSON at line {err.lineno})") from None
        except ValueError as err:
            raise UserError(f"{path}: corrupt vocabulary file ({err})") from None
        return cls.from_dict(data, source=str(path))


def pad_sequences(
    sequences: Sequence[Sequence[int]], maxlen: int | None = None, truncate: str = "post", value: int = PAD_ID
) -> np.ndarray:
    """Right-pad integer sequences into a ``(batch, length)`` int32 array, cutting those longer
    than ``maxlen`` at the end (or the start with ``truncate="pre"``); :func:`nlp_tasks.batching.pad`
    builds the array."""
    from nlp_tasks.batching import pad

    if truncate not in ("pre", "post"):
        raise UserError(f"truncate must be 'pre' or 'post', got {truncate!r}")
    if maxlen is not None and (not isinstance(maxlen, int) or maxlen < 1):
        raise UserError(f"maxlen must be a positive integer, got {maxlen!r}")
    sequences = [list(seq) for seq in sequences]
    length = maxlen if maxlen is not None else max((len(s) for s in sequences), default=0)
    cut = [seq[:length] if truncate == "post" else seq[-length:] if len(seq) > length else seq for seq in sequences]
    return pad(cut, length, dtype=np.int32, value=value)
