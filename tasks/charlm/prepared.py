"""``charlm prepare``: a corpus tokenised once into a token store (:mod:`nlp_tasks.data.tokenstore`),
for training on text bigger than memory (``charlm train --train STORE``).

The store holds exactly the ids that reading the corpus in memory gives (:mod:`tasks.charlm.data`):
the same vocabulary (counted on the training part only), the same stream layout (documents joined
by ``<eos>``; at word level every line ends with ``<eos>``) and the same validation split (the last
``valid_fraction`` of the text by characters when the corpus is one text, by documents
otherwise), as its ``train`` and ``valid`` parts. Training reads windows straight from the memory
map (:class:`tasks.charlm.data.StreamWindows`): the batches are those of the in-memory path.

The corpus is read in pieces that end at line ends (:func:`file_pieces`), two or three times: the
length of a one-text corpus (for the split), the vocabulary's counts, the ids. Memory stays that of
a piece: characters are counted and encoded as NumPy arrays of code points
(:mod:`nlp_tasks.text.charcodes`); words go through the tokenizer a piece at a time. Lines mode
(a store of lines, each read back on its own) is :mod:`tasks.charlm.prepared_lines`.
"""

from __future__ import annotations

import codecs
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from nlp_tasks.data.sources import hub_split, open_file, resolve_source, split_source
from nlp_tasks.data.tokenstore import Writer, is_store, open_store, source_facts
from nlp_tasks.errors import UserError
from nlp_tasks.text.charcodes import CharCounts, code_points, lookup_table
from nlp_tasks.text.vocab import EOS_ID, Vocabulary

from . import data as cd
from .config import DATA_SETTINGS

PIECE_BYTES = 1 << 22  # 4 MB of text read at a time (a word piece makes about 30 MB of Python ints)


def file_pieces(path, piece_bytes: int | None = None):
    """The UTF-8 text of ``path`` (a byte-order mark dropped, as :func:`nlp_tasks.data.readers.read_text`
    does) in pieces that end at a line end, or, in a line longer than four pieces, after a space:
    no NFC composition and no word straddles two pieces (:func:`tasks.charlm.data.line_pieces` joins a line's
    pieces again). Always at least one piece."""
    piece_bytes = piece_bytes or PIECE_BYTES
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    carry, lines, given = "", 0, False
    with open_file(path) as handle:
        while True:
            block = handle.read(piece_bytes)
            try:
                text = carry + decoder.decode(block, final=not block)
            except UnicodeDecodeError as err:
                at = min(max(err.start, 0), max(len(block) - 1, 0))
                line = lines + block[:at].count(b"\n") + 1
                shown = f" (byte 0x{block[at]:02x})" if block else ""
                raise UserError(f"{path}, line {line}: not valid UTF-8{shown}; convert the file to UTF-8") from None
            lines += block.count(b"\n")
            if not block:
                if text or not given:
                    yield text
                return
            cut = max(text.rfind("\n"), text.rfind("\r")) + 1
            if not cut and len(text) >= 4 * piece_bytes:  # a long line (text8 is one): cut after a space, which
                cut = text.rfind(" ") + 1  # no word and no NFC composition spans
            if not cut:
                carry = text  # read on
                continue
            carry = text[cut:]
            given = True
            yield text[:cut]


def _text_pieces(text: str, piece_chars: int | None = None):
    """A text held in memory, in pieces that end at line ends (or after a space, in a long line)."""
    piece_chars, start = piece_chars or PIECE_BYTES, 0
    while True:
        stop = len(text)
        if start + piece_chars < len(text):
            end = start + piece_chars
            stop = max(text.rfind("\n", start, end), text.rfind("\r", start, end), text.rfind(" ", start, end)) + 1
            if stop <= start:  # no line end or space in reach: the next one
                found = [i for i in (text.find(c, end) for c in "\n\r ") if i >= 0]
                stop = min(found) + 1 if found else len(text)
        yield text[start:stop]
        if stop >= len(text):
            return
        start = stop


class Documents:
    """A corpus as ``count`` documents and :meth:`pieces`: ``(document index, text)`` in order,
    every document at least once (an empty one as ``""``); ``sources``: what identifies them."""

    def __init__(self, source, cfg):
        self.cfg, self.name = cfg, str(source) if not isinstance(source, (list, tuple)) else "the corpus"
        self.sources, self._files, self._texts, self._hub = [], None, None, None
        if isinstance(source, (list, tuple)):
            self._texts = list(source)
            for i, doc in enumerate(self._texts, start=1):
                if not isinstance(doc, str):
                    raise UserError(f"corpus document {i}: expected a string, got {type(doc).__name__}")
        elif str(source).startswith("builtin:"):
            self._texts = cd.builtin_corpus(str(source))
            self.sources = [{"name": str(source)}]
            self.name = str(source)
        else:
            kind, name, chosen = resolve_source(str(source))
            files = None if kind == "hub" else [Path(name)] if kind == "file" else cd.corpus_files(Path(name))
            if files is None:  # a hub data set, or a data set folder
                data = cd.text_dataset(name, chosen or hub_split("train"), cfg.text_column)
                self._hub = data.select_columns([cfg.text_column])
                self.sources = [{"name": str(source), "fingerprint": getattr(data, "_fingerprint", None)}]
            else:
                self._files = files
                self.sources = [source_facts(p) for p in files]
        self.count = (len(self._files) if self._files is not None else len(self._texts) if self._texts is not None
                      else sum(1 for _ in self._hub_texts()))

    def where(self, index: int) -> str:
        """How an error names document ``index``: its file, the data set, or the corpus."""
        if self._files is not None:
            return str(self._files[index])
        return self.name if self._hub is not None else "the corpus"

    def _hub_texts(self):
        for batch in self._hub.iter(batch_size=1000):
            yield from (t for t in batch[self.cfg.text_column] if isinstance(t, str))

    def pieces(self):
        """``(document, text piece)``, the text as the corpus reader gives it (``--separator`` applied)."""
        documents = (file_pieces(f) for f in self._files) if self._files is not None else \
            (_text_pieces(t) for t in (self._texts if self._texts is not None else self._hub_texts()))
        separator = self.cfg.separator
        for index, pieces in enumerate(documents):
            for piece in pieces:
                if separator is not None:
                    piece = cd.unseparate(piece, separator, self.cfg.word_boundary)
                elif index == 0:
                    cd.warn_if_separated([piece[:200_000]], self.name)
                yield index, piece


def split_pieces(docs: Documents, fraction: float, words: bool = False):
    """``(part, document, piece)``: part ``"train"`` then ``"valid"``, cut as the in-memory reader
    cuts (:meth:`tasks.charlm.LanguageModelPipeline._split`; ``words``: one text is cut at the first
    whitespace at or after its character cut); all ``"train"`` when ``fraction`` is 0."""
    if not fraction:
        yield from (("train", d, p) for d, p in docs.pieces())
        return
    if docs.count > 1:
        cut = int(docs.count * (1 - fraction))
        yield from (("train" if d < cut else "valid", d, p) for d, p in docs.pieces())
        return
    total = sum(len(p) for _, p in docs.pieces())  # one text: cut by characters
    cut, seen, done = int(total * (1 - fraction)), 0, False
    for d, piece in docs.pieces():
        start, seen = seen, seen + len(piece)
        if done:
            yield "valid", d, piece
            continue
        if seen <= cut:
            yield "train", d, piece
            continue
        at = max(cut - start, 0)
        if words:
            at = cd.word_cut(piece, at)
            if at == len(piece):  # no whitespace after the cut in this piece: the next one goes on
                yield "train", d, piece
                continue
        if at:
            yield "train", d, piece[:at]
        yield "valid", d, piece[at:]
        done = True


class Progress:
    """Steps of a long preparation: on a terminal, one line rewritten with MB of text and MB/s; in
    a pipe (or a log), one line per finished step."""

    def __init__(self, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def step(self, what: str, pieces):
        start = shown = time.perf_counter()
        chars = 0
        for item in pieces:
            chars += len(item[-1])
            yield item
            now = time.perf_counter()
            if self.tty and now - shown > 0.5:
                shown = now
                self.stream.write(f"\r{what}: {chars / 1e6:,.1f} MB of text ({chars / 1e6 / (now - start):,.1f} MB/s)")
                self.stream.flush()
        seconds = max(time.perf_counter() - start, 1e-9)
        self.stream.write(f"{chr(13) if self.tty else ''}{what}: {chars / 1e6:,.1f} MB of text in {seconds:.1f} s "
                          f"({chars / 1e6 / seconds:,.1f} MB/s)\n")
        self.stream.flush()


def count_vocabulary(docs: Documents, cfg, progress: Progress) -> Vocabulary:
    """The vocabulary of the training part, counted piece by piece (:meth:`Vocabulary.build`'s)."""
    chars, words, probe = CharCounts(), Counter(), Vocabulary(level="word", lower=cfg.lower)
    seen = {"train": False, "valid": False}

    def counted(pieces):
        for part, doc, piece in pieces:
            seen[part] = seen[part] or bool(piece.strip())
            yield part, doc, piece

    pieces = counted(progress.step("counting", split_pieces(docs, cfg.valid_fraction, cfg.level == "word")))
    if cfg.level == "char":
        for part, _, piece in pieces:
            if part == "train":
                chars.add(piece)
    else:
        for part, fragment, _ in cd.line_pieces(pieces):
            if part == "train":
                words.update(probe.tokenize(fragment))
    if not seen["train"] and not seen["valid"]:
        raise UserError(f"{docs.name}: the corpus is empty")
    if cfg.valid_fraction and not (seen["train"] and seen["valid"]):
        raise UserError("the corpus is too small to hold out a validation part; give --dev data")
    counts = chars.tokens(cfg.lower) if cfg.level == "char" else words
    vocab = Vocabulary.from_counts(counts, cfg.level, cfg.max_vocab, cfg.min_freq, cfg.lower)
    cd.check_vocabulary(vocab, docs.name)
    return vocab


def write_ids(docs: Documents, vocab: Vocabulary, cfg, writer: Writer, progress: Progress) -> None:
    """The stream layout's ids of each part (:func:`tasks.charlm.data.encode_stream`), piece by piece."""
    eos = np.array([EOS_ID], np.int32)
    pieces = progress.step("encoding", split_pieces(docs, cfg.valid_fraction, cfg.level == "word"))
    if cfg.level == "char":
        table, last = lookup_table(vocab), None  # last: (part, document) of the previous piece
        for part, doc, piece in pieces:
            if last is not None and last[0] == part and last[1] != doc:
                writer.write(part, eos)  # characters join documents with <eos>
            writer.write(part, table[code_points(piece)])
            last = (part, doc)
    else:  # words: every non-empty line ends with <eos>
        ids, content, current = [], False, "train"
        for part, fragment, ends in cd.line_pieces(pieces):
            if part != current or len(ids) > PIECE_BYTES // 8:
                writer.write(current, np.array(ids, np.int32))
                ids, current = [], part
            ids += vocab.encode(fragment)
            content = content or bool(fragment.strip())
            if ends and content:
                ids.append(EOS_ID)
            content = content and not ends
        writer.write(current, np.array(ids, np.int32))


def prepare(source, out, cfg, stream=None) -> dict:
    """Tokenise ``source`` into a store at ``out`` with ``cfg``'s data settings; a summary."""
    from . import prepared_lines

    lines = cfg.mode == "lines"
    progress = Progress(stream)
    docs = Documents(source, cfg)
    # Lines mode without a validation part counts the whole text, as stream mode does.
    count = prepared_lines.count_vocabulary if lines and cfg.valid_fraction else count_vocabulary
    vocab = count(docs, cfg, progress)
    settings = {name: getattr(cfg, name) for name in DATA_SETTINGS}
    start = time.perf_counter()
    with Writer(out, vocab, settings, docs.sources) as writer:
        (prepared_lines.write_ids if lines else write_ids)(docs, vocab, cfg, writer, progress)
    store = open_store(out)
    return {"store": str(out), "tokens": {name: count for name, (_, count) in store.parts.items()},
            "vocabulary": len(vocab), "dtype": store.ids.dtype.name, "seconds": round(time.perf_counter() - start, 3)}


AUTO_PREPARE_BYTES = 1 << 30  # a training text of 1 GiB or more is prepared before training (charlm train)


def source_bytes(source) -> int | None:
    """The size of a training text on disk (a file, or a folder's files), or None (a hub data set,
    the built-in corpus, a store)."""
    if not isinstance(source, (str, Path)) or str(source).startswith("builtin:") or is_store(source):
        return None
    path = Path(source)
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        files = cd.corpus_files(path)
        return sum(f.stat().st_size for f in files) if files is not None else None
    return None


def store_for(source, folder, cfg, stream=None) -> Path:
    """A store of ``source`` under ``cfg``'s data settings at ``folder``: the one already there when
    it was prepared from the same files (unchanged since) with the same settings, else one
    prepared now (replacing an older store of ours there)."""
    stream = stream if stream is not None else sys.stderr
    folder = Path(folder)
    settings = {name: getattr(cfg, name) for name in DATA_SETTINGS}
    if is_store(folder):
        try:
            store = open_store(folder)  # refuses a store whose files changed since
        except UserError:
            store = None
        path = Path(str(source))
        files = [path] if path.is_file() else cd.corpus_files(path) if path.is_dir() else None
        named = [str(f.resolve()) for f in files] if files is not None else None
        if store is not None and store.settings == settings and (
                [s.get("path") for s in store.sources] == named if named is not None
                else [s.get("name") for s in store.sources] == [str(source)]):
            stream.write(f"note: {folder} holds {source} prepared with these settings: training on it\n")
            return folder
    prepare(source, folder, cfg, stream)
    return folder


def training_data(pipe, folder, dev):
    """``(train ids, dev ids or None, fingerprint parts)`` of a store, for
    :meth:`tasks.charlm.LanguageModelPipeline.read_training_data`: the store's data settings must
    be the run's (``charlm train`` takes them from the store unless given); ``dev`` data, if given,
    is read as usual, else the store's ``valid`` part validates."""
    store = open_store(folder)
    cfg = pipe.config
    differ = [f"{name} ({store.settings.get(name)!r} there, {getattr(cfg, name)!r} here)" for name in DATA_SETTINGS
              if store.settings.get(name) != getattr(cfg, name) and (name != "valid_fraction" or dev is None)]
    if differ:
        raise UserError(f"{folder}: the store was prepared with other data settings: {', '.join(differ)}; train "
                        "with the store's settings or prepare it again")
    pipe.vocabs = {pipe.vocab_name: store.vocab}
    lines = cfg.mode == "lines"  # a store of lines: each line read from the memory map when its batch is made
    train = store.lines("train") if lines else store.part("train")
    if len(train) < (1 if lines else 2):
        raise UserError(f"{folder}: " + ("no non-empty lines to train on" if lines else
                                         "the corpus has fewer than two tokens"))
    if dev is not None:
        dev_ids = pipe._sequences(pipe._read(dev, split="dev"))
        return train, dev_ids, [store.content_hash, dev_ids]
    has_valid = store.parts.get("valid", (0, 0))[1]
    valid = (store.lines("valid") if lines else store.part("valid")) if has_valid else None
    return train, valid, [store.content_hash]


def store_part(pipe, source):
    """The ids of ``STORE``'s validation part (``STORE:train``: its training part) for
    :meth:`tasks.charlm.LanguageModelPipeline.evaluate`, or None when ``source`` is no store. The
    store's vocabulary and data settings must be the model's: its ids mean the model's tokens."""
    if isinstance(source, (list, tuple)):
        return None
    name, part = split_source(str(source))
    if not is_store(name):
        return None
    store = open_store(name)
    if store.vocab != pipe.vocab or store.settings.get("mode") != pipe.config.mode:
        raise UserError(f"{name}: the store was prepared with another vocabulary or mode than the model's; evaluate "
                        "on the text itself, or on a store prepared for this model")
    part = part or ("valid" if store.parts.get("valid", (0, 0))[1] else "train")
    ids = store.lines(part) if pipe.config.mode == "lines" else store.part(part)
    if not len(ids):
        raise UserError(f"{name}: the store's {part} part is empty")
    return ids
