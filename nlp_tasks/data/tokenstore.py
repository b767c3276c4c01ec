"""A prepared token store: a corpus tokenised once into a flat file of token ids, read back
through a memory map, so that training on it needs memory for a batch, not for the corpus.

The idea is nanoGPT's ``prepare.py`` (a flat ``uint16`` file read with ``np.memmap``) and
fairseq's binarised data sets, with what nlp-tasks guarantees about files:

    STORE/manifest.json   format and version, the vocabulary, the settings it was made with, the
                          parts (name, first id, count) and the sources (path, size, mtime, SHA-256)
    STORE/tokens.bin      every part's ids one after another, in the smallest unsigned type that
                          holds the vocabulary (uint8, uint16 or uint32), little-endian
    STORE/lines.bin       (a store of lines only) where each line's ids end in tokens.bin, uint64:
                          line ``k`` is ``tokens[ends[k - 1]:ends[k]]`` (``ends[-1]`` read as 0)

A store is written into a temporary folder beside ``STORE`` and renamed into place when it is
complete, so an interrupted preparation leaves nothing that could be taken for a store (the
temporary folder, named ``.STORE.preparing-*``, is removed by the next preparation). A folder that
is not a store of ours is never replaced; a store of ours is replaced only by a new preparation.
:func:`open_store` checks the manifest, the file's size, and that every source still has the size
and modification time it had (a changed source is refused: prepare again).

What goes into the parts (the layout of a language model's stream, say) is the caller's:
:class:`Writer` takes id arrays part by part, with the lengths of the lines they hold when the
store is one of lines (:meth:`Store.lines` reads them back one line at a time).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from nlp_tasks.errors import UserError
from nlp_tasks.io.paths import atomic_write
from nlp_tasks.text.vocab import Vocabulary

FORMAT = "nlp_tasks.tokens"
VERSION = 1
MANIFEST = "manifest.json"
TOKENS = "tokens.bin"
LINES = "lines.bin"
DTYPES = ("uint8", "uint16", "uint32")
HASH_BLOCK = 1 << 24


def id_dtype(vocabulary_size: int) -> str:
    """The smallest unsigned type that holds every id of a vocabulary of this size."""
    return next(d for d in DTYPES if vocabulary_size <= np.iinfo(d).max + 1)


def source_facts(path: Path) -> dict:
    """What identifies a source file: its path, size, modification time and SHA-256."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    info = path.stat()
    return {"path": str(path.resolve()), "size": info.st_size, "mtime_ns": info.st_mtime_ns,
            "sha256": digest.hexdigest()}


def is_store(path) -> bool:
    """Whether ``path`` (a path; anything else is not) is a folder holding a token store's manifest
    (of any version)."""
    if not isinstance(path, (str, os.PathLike)):
        return False
    manifest = Path(path) / MANIFEST
    if not manifest.is_file():
        return False
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return False


class Writer:
    """Writes a store: ``with Writer(folder, vocab, settings, sources) as w: w.write(part, ids)...``.

    Parts are written in order, each as many ``write`` calls as it takes; the store appears at
    ``folder`` only when the block ends without an error. ``folder`` may be a previous store of
    ours (replaced) but not anything else.
    """

    def __init__(self, folder, vocab: Vocabulary, settings: dict, sources: list[dict]):
        self.folder = Path(folder)
        if self.folder.exists() and not is_store(self.folder):
            if not self.folder.is_dir() or any(self.folder.iterdir()):
                raise UserError(f"{self.folder}: exists and is not a prepared token store; give a new folder "
                                "(nothing there was changed)")
        self.vocab, self.settings, self.sources = vocab, settings, sources
        self.dtype = np.dtype(id_dtype(len(vocab))).newbyteorder("<")
        self.parts: list[dict] = []
        self._count = 0
        self._lines = None  # the count of lines written, once a write gives line lengths

    def __enter__(self):
        parent = self.folder.parent
        parent.mkdir(parents=True, exist_ok=True)
        for stale in parent.glob(f".{self.folder.name}.preparing-*"):  # left by an interrupted preparation
            shutil.rmtree(stale, ignore_errors=True)
        self.temp = Path(tempfile.mkdtemp(prefix=f".{self.folder.name}.preparing-", dir=parent))
        self._file = open(self.temp / TOKENS, "wb")
        self._ends = open(self.temp / LINES, "wb")
        return self

    def write(self, part: str, ids, lengths=None) -> None:
        """Append ``ids`` (any integer array) to ``part`` (a new part when the name changes); in a
        store of lines, ``lengths`` gives the lengths of the lines ``ids`` holds (every write of
        the store gives them, or none does)."""
        ids = np.asarray(ids)
        if (lengths is not None) != (self._lines is not None) and self._count:
            raise ValueError("a store holds lines throughout or not at all")
        if not self.parts or self.parts[-1]["name"] != part:
            if any(p["name"] == part for p in self.parts):
                raise ValueError(f"part {part!r} was already written")
            self.parts.append({"name": part, "start": self._count, "count": 0})
            if lengths is not None:
                self._lines = self._lines or 0
                self.parts[-1]["lines"] = [self._lines, 0]
        if lengths is not None:
            lengths = np.asarray(lengths, dtype=np.int64)
            if int(lengths.sum()) != ids.size or (lengths < 0).any():
                raise ValueError("the lengths of the lines do not add up to the ids given")
            self._ends.write((self._count + np.cumsum(lengths)).astype("<u8").tobytes())
            self.parts[-1]["lines"][1] += int(lengths.size)
            self._lines += int(lengths.size)
        if ids.size:
            self._file.write(ids.astype(self.dtype, copy=False).tobytes())
        self.parts[-1]["count"] += int(ids.size)
        self._count += int(ids.size)

    def __exit__(self, kind, error, traceback):
        self._file.close()
        self._ends.close()
        if kind is not None:
            shutil.rmtree(self.temp, ignore_errors=True)
            return False
        manifest = {"format": FORMAT, "version": VERSION, "dtype": self.dtype.name, "tokens": self._count,
                    "parts": self.parts, "settings": self.settings, "sources": self.sources,
                    "vocabulary": self.vocab.to_dict()}
        if self._lines is None:
            (self.temp / LINES).unlink()
        else:
            manifest["lines"] = self._lines
        with atomic_write(self.temp / MANIFEST) as handle:
            json.dump(manifest, handle, ensure_ascii=False, indent=1)
        if self.folder.exists():  # a store of ours (checked in __init__): replaced by the new one
            old = self.temp.with_name(self.temp.name + "-old")
            os.replace(self.folder, old)
            os.replace(self.temp, self.folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.temp, self.folder)
        return False


@dataclasses.dataclass
class Store:
    """An opened store: its ``vocab``, ``settings`` and ``parts``; :meth:`part` gives a part's ids
    as a read-only memory-mapped array (nothing is read until it is indexed)."""

    folder: Path
    vocab: Vocabulary
    settings: dict
    parts: dict
    sources: list
    ids: np.ndarray
    ends: np.ndarray | None = None  # a store of lines: where each line ends in ids
    line_parts: dict = dataclasses.field(default_factory=dict)  # part -> (first line, lines)

    def part(self, name: str) -> np.ndarray:
        if name not in self.parts:
            raise UserError(f"{self.folder}: the store has no {name!r} part (it has: {', '.join(self.parts)})")
        start, count = self.parts[name]
        return self.ids[start:start + count]

    def lines(self, name: str) -> Lines:
        """The lines of a part of a store of lines, each read from the memory map when indexed."""
        self.part(name)  # a one-line error for a part it does not have
        if self.ends is None:
            raise UserError(f"{self.folder}: the store holds a stream, not lines; prepare it with --mode lines")
        first, count = self.line_parts[name]
        return Lines(self.ids, self.ends, first, count)

    @property
    def content_hash(self) -> str:
        """A short identity of what the store holds: its sources (files with their hashes, a hub data
        set with its fingerprint), settings, vocabulary and parts."""
        digest = hashlib.sha256(json.dumps([self.sources, self.settings, self.vocab.tokens,
                                            sorted(self.parts.items())], default=str).encode("utf-8"))
        return digest.hexdigest()[:16]


class Lines:
    """Lines of token ids read from a store one at a time: ``lines[k]`` is an array of ids (a
    view of the memory map), ``lengths()`` every line's length; nothing is read until asked for."""

    def __init__(self, ids: np.ndarray, ends: np.ndarray, first: int, count: int):
        self.ids, self.ends, self.first, self.count = ids, ends, first, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, k: int) -> np.ndarray:
        if not 0 <= k < self.count:
            raise IndexError(f"line {k} of {self.count}")
        line = self.first + int(k)
        return self.ids[int(self.ends[line - 1]) if line else 0:int(self.ends[line])]

    def __iter__(self):
        return (self[k] for k in range(self.count))

    def lengths(self) -> np.ndarray:
        ends = np.asarray(self.ends[self.first:self.first + self.count], dtype=np.int64)
        start = int(self.ends[self.first - 1]) if self.first else 0
        return np.diff(ends, prepend=start)


def open_store(folder, check_sources: bool = True) -> Store:
    """The store at ``folder``, checked: a one-line error for anything that is not a complete
    store of this version, or (``check_sources``) whose sources changed since it was prepared."""
    folder = Path(folder)
    where = str(folder)
    if not (folder / MANIFEST).is_file():
        raise UserError(f"{where}: not a prepared token store (no {MANIFEST}); make one with 'charlm prepare'")
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise UserError(f"{where}: damaged token store ({MANIFEST} is not JSON); prepare it again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UserError(f"{where}: {MANIFEST} is not a token store's manifest")
    if manifest.get("version") != VERSION:
        raise UserError(f"{where}: token store version {manifest.get('version')!r}; this nlp-tasks reads version "
                        f"{VERSION}: prepare it again")
    try:
        dtype = manifest["dtype"]
        if dtype not in DTYPES:
            raise ValueError(dtype)
        count, vocab = int(manifest["tokens"]), Vocabulary.from_dict(manifest["vocabulary"], f"{where}/{MANIFEST}")
        parts = {p["name"]: (int(p["start"]), int(p["count"])) for p in manifest["parts"]}
        settings, sources = dict(manifest["settings"]), list(manifest["sources"])
        lines = manifest.get("lines")
        line_parts = {p["name"]: (int(p["lines"][0]), int(p["lines"][1])) for p in manifest["parts"]
                      if lines is not None}
    except UserError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UserError(f"{where}: damaged token store manifest; prepare it again") from None
    size = np.dtype(dtype).itemsize * count
    path = folder / TOKENS
    if not path.is_file() or path.stat().st_size != size:
        raise UserError(f"{where}: {TOKENS} is missing or not {size:,} bytes: the store is damaged; prepare it again")
    if any(start < 0 or n < 0 or start + n > count for start, n in parts.values()):
        raise UserError(f"{where}: damaged token store manifest (a part lies outside {TOKENS}); prepare it again")
    if len(vocab) > np.iinfo(dtype).max + 1:
        raise UserError(f"{where}: damaged token store ({len(vocab)} tokens do not fit {dtype})")
    ends = None
    if lines is not None:
        ends_path = folder / LINES
        if not isinstance(lines, int) or not ends_path.is_file() or ends_path.stat().st_size != 8 * lines or any(
                first < 0 or n < 0 or first + n > lines for first, n in line_parts.values()):
            raise UserError(f"{where}: {LINES} is missing or does not match the manifest: the store is damaged; "
                            "prepare it again")
        ends = np.memmap(ends_path, dtype="<u8", mode="r") if lines else np.zeros(0, np.uint64)
        if lines and int(ends[-1]) != count:
            raise UserError(f"{where}: {LINES} does not end where {TOKENS} ends: the store is damaged; prepare it "
                            "again")
    if check_sources:
        for source in sources:
            changed(source, where)
    ids = np.memmap(path, dtype=np.dtype(dtype).newbyteorder("<"), mode="r") if count else np.zeros(0, dtype)
    return Store(folder, vocab, settings, parts, sources, ids, ends, line_parts)


def changed(source: dict, where: str) -> None:
    """A one-line error when a store's source file is gone or was changed since it was prepared
    (size or modification time: hashing a large corpus again would take as long as preparing it)."""
    path = Path(source.get("path", ""))
    if not source.get("path"):  # a built-in corpus or a hub data set: nothing on disk to compare
        return
    try:
        info = path.stat()
    except OSError:
        raise UserError(f"{where}: its source {path} is gone; prepare the store again from the data you have") \
            from None
    if info.st_size != source.get("size") or info.st_mtime_ns != source.get("mtime_ns"):
        raise UserError(f"{where}: its source {path} changed since the store was prepared; prepare it again")
