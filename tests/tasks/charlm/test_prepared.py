"""Prepared token stores (issue 34): ``charlm prepare`` gives exactly the ids, vocabulary and
validation split of reading the corpus in memory, training on a store gives the in-memory model,
and a store is written, checked and replaced as nothing a user saved is lost."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest

from nlp_tasks.data import tokenstore
from nlp_tasks.errors import UserError
from nlp_tasks.text.charcodes import CharCounts, code_points, lookup_table
from nlp_tasks.text.vocab import Vocabulary
from tasks.charlm import LanguageModelConfig, LanguageModelPipeline, prepared
from tasks.charlm import data as cd

# A byte-order mark, CRLF, composed and decomposed accents, U+0130 (two characters lower-cased),
# a long line with spaces (cut inside a line), a line without a space, no newline at the end.
TEXT = ("\ufeffHello W\u00f6rld\r\nCafe\u0301 na\u00efve \u0130stanbul\n\n"
        + " ".join(f"w{i % 37} \u00e9x" for i in range(400)) + "\nsecond line here.\n" + "y" * 90 + "\n") * 3 \
    + "tail without newline \u00e9"
DOCS = ["first doc\nline two, one doc\nthe first line\n", "", "third \u00dcn\u00efc\u00f6de\n", "  \n", "x" * 30,
        "last one\n"]
SETTINGS = [dict(), dict(level="word"), dict(lower=True), dict(level="word", lower=True, max_vocab=5, min_freq=2),
            dict(valid_fraction=0), dict(level="word", valid_fraction=0.3)]


@pytest.fixture
def small_pieces(monkeypatch):
    """Pieces of 16 bytes: every piece boundary the reader has (line ends, spaces, long lines)."""
    monkeypatch.setattr(prepared, "PIECE_BYTES", 16)


@pytest.fixture
def corpora(tmp_path):
    (tmp_path / "one.txt").write_text(TEXT, encoding="utf-8")
    folder = tmp_path / "many"
    folder.mkdir()
    for i, doc in enumerate(DOCS):
        (folder / f"{i}.txt").write_text(doc, encoding="utf-8")
    return {"one text": tmp_path / "one.txt", "a folder of documents": folder}


def _data(source, **settings):
    pipe = LanguageModelPipeline(LanguageModelConfig(units=4, layers=1, **settings))
    return pipe, pipe.read_training_data(str(source))


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "default")
@pytest.mark.parametrize("which", ["one text", "a folder of documents"])
def test_a_store_holds_the_in_memory_ids_vocabulary_and_split(corpora, tmp_path, small_pieces, which, settings):
    source = corpora[which]
    memory_pipe, memory = _data(source, **settings)
    config = LanguageModelConfig(**settings)
    summary = prepared.prepare(str(source), tmp_path / "store", config, stream=io.StringIO())
    store_pipe, stored = _data(tmp_path / "store", **settings)
    assert store_pipe.vocab == memory_pipe.vocab
    assert isinstance(stored.train, np.memmap) and np.array_equal(stored.train, memory.train)
    assert (stored.dev is None) == (memory.dev is None)
    if memory.dev is not None:
        assert np.array_equal(stored.dev, memory.dev)
    assert summary["tokens"]["train"] == len(memory.train)
    assert stored.train.dtype == np.uint8  # the smallest type that holds the vocabulary


def test_a_data_set_folder_prepares_as_it_reads(tmp_path):
    """A Hugging Face data set folder (its text column; rows without text left out) as documents."""
    import datasets

    folder = tmp_path / "corpus"
    folder.mkdir()
    rows = [f"row {i} says {'hello' if i % 3 else 'goodbye'}\n" for i in range(40)] + [None]
    datasets.Dataset.from_dict({"text": rows, "id": list(range(41))}).to_parquet(str(folder / "train.parquet"))
    memory_pipe, memory = _data(folder)
    prepared.prepare(str(folder), tmp_path / "store", LanguageModelConfig(), stream=io.StringIO())
    store_pipe, stored = _data(tmp_path / "store")
    assert store_pipe.vocab == memory_pipe.vocab
    assert np.array_equal(stored.train, memory.train) and np.array_equal(stored.dev, memory.dev)


def test_the_windows_of_a_store_are_those_of_the_in_memory_rows():
    rng = np.random.default_rng(0)
    for n, rows, window, pad in [(1001, 7, 50, False), (1001, 7, 50, True), (100, 4, 3, True), (17, 2, 10, False)]:
        ids = rng.integers(4, 50, n).astype(np.int32)
        x, y = cd.stream_rows(ids, rows, pad_last=pad)
        expected = cd.windows(x, y, window, drop_last=not pad)
        found = list(cd.StreamWindows(ids.astype(np.uint16), rows, window, pad_last=pad, drop_last=not pad))
        assert len(found) == len(expected)
        for (a, b), (c, d) in zip(expected, found):
            assert c.dtype == np.int32 and np.array_equal(a, c) and np.array_equal(b, d)


def test_training_on_a_store_gives_the_in_memory_model(corpora, tmp_path):
    settings = dict(units=8, layers=1, embedding_dim=4, epochs=2, batch_size=4, window=20, seed=3)
    memory = LanguageModelPipeline(LanguageModelConfig(**settings))
    expected = memory.fit(str(corpora["one text"]), verbose=0)
    prepared.prepare(str(corpora["one text"]), tmp_path / "store", LanguageModelConfig(**settings),
                     stream=io.StringIO())
    store = LanguageModelPipeline(LanguageModelConfig(**settings))
    found = store.fit(str(tmp_path / "store"), verbose=0)
    assert found["history"] == expected["history"]
    for a, b in zip(memory.model.get_weights(), store.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_evaluating_a_stores_part_gives_the_validation_figure_of_training(corpora, tmp_path):
    settings = dict(units=8, layers=1, embedding_dim=4, epochs=2, batch_size=4, window=20, seed=3)
    store = tmp_path / "store"
    prepared.prepare(str(corpora["one text"]), store, LanguageModelConfig(**settings), stream=io.StringIO())
    lm = LanguageModelPipeline(LanguageModelConfig(**settings))
    summary = lm.fit(str(store), verbose=0)
    assert lm.evaluate(str(store))["nats_per_token"] == pytest.approx(summary["best"], rel=1e-5)  # the valid part
    assert lm.evaluate(f"{store}:train")["tokens"] == tokenstore.open_store(store).parts["train"][1]
    other = tmp_path / "words"
    prepared.prepare(str(corpora["one text"]), other, LanguageModelConfig(level="word"), stream=io.StringIO())
    with pytest.raises(UserError, match="prepared with another vocabulary or mode than the model's"):
        lm.evaluate(str(other))
    with pytest.raises(UserError, match=r"a prepared token store \(charlm prepare\) is read by"):
        lm.fit(str(corpora["one text"]), dev=str(store), verbose=0)


def test_characters_count_and_encode_as_the_vocabulary_does():
    text = "A\u0130b\u00c9e\u0301\u1e9e\U0001f600 \n"
    for lower in (False, True):
        counts = CharCounts()
        counts.add(text)
        counts.add(text[:5])
        built = Vocabulary.build([text, text[:5]], level="char", lower=lower)
        vocab = Vocabulary.from_counts(counts.tokens(lower), "char", lower=lower)
        assert vocab == built and vocab.counts == built.counts
        assert lookup_table(vocab)[code_points(text + "Zz")].tolist() == vocab.encode(text + "Zz")
        assert Vocabulary.load(_saved(vocab)) == vocab  # U+0130 stays one character when lower-cased


def _saved(vocab):
    import tempfile

    path = os.path.join(tempfile.mkdtemp(), "vocab.json")
    vocab.save(path)
    return path


def test_an_interrupted_preparation_leaves_no_store(corpora, tmp_path, monkeypatch):
    def broken(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepared, "write_ids", broken)
    with pytest.raises(KeyboardInterrupt):
        prepared.prepare(str(corpora["one text"]), tmp_path / "store", LanguageModelConfig(), stream=io.StringIO())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many", "one.txt"]
    # A killed preparation's temporary folder is no store, and the next preparation removes it.
    stale = tmp_path / ".store.preparing-x1"
    stale.mkdir()
    (stale / "tokens.bin").write_bytes(b"\0" * 10)
    assert not tokenstore.is_store(stale)
    monkeypatch.undo()
    prepared.prepare(str(corpora["one text"]), tmp_path / "store", LanguageModelConfig(), stream=io.StringIO())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many", "one.txt", "store"]


def test_a_changed_source_or_a_damaged_store_is_refused_in_one_line(corpora, tmp_path):
    store = tmp_path / "store"
    prepared.prepare(str(corpora["one text"]), store, LanguageModelConfig(), stream=io.StringIO())
    (store / "tokens.bin").write_bytes((store / "tokens.bin").read_bytes()[:-1])
    with pytest.raises(UserError, match=r"tokens\.bin is missing or not [\d,]+ bytes: the store is damaged"):
        tokenstore.open_store(store)
    prepared.prepare(str(corpora["one text"]), store, LanguageModelConfig(), stream=io.StringIO())  # replaced
    tokenstore.open_store(store)
    corpora["one text"].write_text(TEXT + "more", encoding="utf-8")
    with pytest.raises(UserError, match=r"one\.txt changed since the store was prepared; prepare it again"):
        LanguageModelPipeline(LanguageModelConfig()).read_training_data(str(store))
    (store / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="damaged token store"):
        tokenstore.open_store(store)


def test_a_folder_that_is_not_a_store_is_never_replaced(corpora, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(UserError, match="exists and is not a prepared token store"):
        prepared.prepare(str(corpora["one text"]), mine, LanguageModelConfig(), stream=io.StringIO())
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_other_data_settings_than_the_stores_are_refused(corpora, tmp_path):
    prepared.prepare(str(corpora["one text"]), tmp_path / "store", LanguageModelConfig(level="word"),
                     stream=io.StringIO())
    with pytest.raises(UserError, match=r"prepared with other data settings: level \('word' there, 'char' here\)"):
        LanguageModelPipeline(LanguageModelConfig()).read_training_data(str(tmp_path / "store"))


def test_bad_utf8_names_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine\nstill fine\nnot \xff fine\n")
    with pytest.raises(UserError, match=r"bad\.txt, line 3: not valid UTF-8 \(byte 0xff\)"):
        prepared.prepare(str(path), tmp_path / "store", LanguageModelConfig(), stream=io.StringIO())


def test_cli_prepare_then_train_on_the_store(corpora, tmp_path, capsys):
    """``charlm prepare`` prints one line per step in a pipe; ``charlm train --train STORE`` takes
    the store's data settings (here --level word) unless given."""
    from nlp_tasks.cli.main import main

    store = tmp_path / "store"
    assert main(["charlm", "prepare", str(corpora["one text"]), "--out", str(store), "--level", "word"]) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith(f"prepared {store}: train ") and printed.out.count("\n") == 1
    assert [line.split(":")[0] for line in printed.err.splitlines()] == ["counting", "encoding"]
    assert main(["charlm", "train", "--train", str(store), "--out", str(tmp_path / "model"), "--units", "4",
                 "--layers", "1", "--epochs", "1", "--batch-size", "2", "--window", "10", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert LanguageModelPipeline.load(tmp_path / "model").config.level == "word" and "best" in result
    assert main(["charlm", "evaluate", str(tmp_path / "model"), "--data", f"{store}:valid", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["nats_per_token"] == pytest.approx(result["best"], rel=1e-5)
    assert main(["charlm", "prepare", str(corpora["one text"]), "--out", str(tmp_path / "lines"), "--mode",
                 "lines"]) == 0
    assert tokenstore.open_store(tmp_path / "lines").settings["mode"] == "lines"


# ------------------------------------------------------------------------------------------ lines mode
LINE_SETTINGS = [dict(), dict(level="word"), dict(lower=True, valid_fraction=0.3), dict(valid_fraction=0),
                 dict(level="word", valid_fraction=0, max_vocab=6)]


@pytest.mark.parametrize("settings", LINE_SETTINGS,
                         ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "default")
@pytest.mark.parametrize("which", ["one text", "a folder of documents"])
def test_a_store_of_lines_holds_the_in_memory_lines_vocabulary_and_split(corpora, tmp_path, small_pieces, which,
                                                                          settings):
    """Lines mode: every non-empty line's ids, read back one line at a time from the memory map."""
    settings = dict(mode="lines", **settings)
    memory_pipe, memory = _data(corpora[which], **settings)
    prepared.prepare(str(corpora[which]), tmp_path / "store", LanguageModelConfig(**settings), stream=io.StringIO())
    store_pipe, stored = _data(tmp_path / "store", **settings)
    assert store_pipe.vocab == memory_pipe.vocab
    assert isinstance(stored.train, tokenstore.Lines) and [s.tolist() for s in stored.train] == memory.train
    assert (stored.dev is None) == (memory.dev is None) and stored.counts == memory.counts
    if memory.dev is not None:
        assert [s.tolist() for s in stored.dev] == memory.dev
    assert cd.line_lengths(stored.train).tolist() == [len(s) for s in memory.train]


def test_training_and_evaluating_on_a_store_of_lines_gives_the_in_memory_model(corpora, tmp_path):
    settings = dict(mode="lines", units=8, layers=1, embedding_dim=4, epochs=2, batch_size=4, seed=3)
    memory = LanguageModelPipeline(LanguageModelConfig(**settings))
    expected = memory.fit(str(corpora["one text"]), verbose=0)
    store = tmp_path / "store"
    prepared.prepare(str(corpora["one text"]), store, LanguageModelConfig(**settings), stream=io.StringIO())
    lm = LanguageModelPipeline(LanguageModelConfig(**settings))
    assert lm.fit(str(store), verbose=0)["history"] == expected["history"]
    for a, b in zip(memory.model.get_weights(), lm.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert lm.evaluate(str(store))["nats_per_token"] == pytest.approx(expected["best"], rel=1e-5)


def test_a_store_of_lines_refuses_a_long_line_and_a_damaged_index_in_one_line(tmp_path):
    from nlp_tasks.data.readers import reading_options

    path = tmp_path / "names.txt"
    path.write_text("anna\nbob\n" + "c" * 40 + "\ndora\n", encoding="utf-8")
    config = LanguageModelConfig(mode="lines")
    with reading_options(max_example_chars=30), pytest.raises(UserError, match=r"names\.txt, line 3: 40 characters"):
        prepared.prepare(str(path), tmp_path / "store", config, stream=io.StringIO())
    path.write_text("anna\nbob\ncarl\ndora\nemil\nfrida\n", encoding="utf-8")
    prepared.prepare(str(path), tmp_path / "store", config, stream=io.StringIO())
    with open(tmp_path / "store" / tokenstore.LINES, "r+b") as handle:
        handle.truncate(8)
    with pytest.raises(UserError, match="lines.bin is missing or does not match the manifest: the store is damaged"):
        tokenstore.open_store(tmp_path / "store")


def test_train_prepares_into_a_store_first_and_reuses_it(corpora, tmp_path, capsys, monkeypatch):
    """``charlm train --prepared DIR`` prepares the text into DIR, a second run trains on the store
    there, a changed text is prepared again; a text of AUTO_PREPARE_BYTES or more is prepared into
    the cache folder unasked, saying so."""
    from nlp_tasks.cli.main import main

    text = tmp_path / "text.txt"
    text.write_text(TEXT, encoding="utf-8")
    store = tmp_path / "store"
    args = ["--units", "4", "--layers", "1", "--epochs", "1", "--batch-size", "2", "--window", "10", "--json"]

    runs = iter(range(10))

    def train(*extra):
        out = tmp_path / f"model-{next(runs)}"
        assert main(["charlm", "train", "--train", str(text), "--out", str(out), *args, *extra]) == 0
        return capsys.readouterr().err

    assert [line.split(":")[0] for line in train("--prepared", str(store)).splitlines()] == ["counting", "encoding"]
    assert train("--prepared", str(store)).splitlines() == [
        f"note: {store} holds {text} prepared with these settings: training on it"]
    text.write_text(TEXT + "more\n", encoding="utf-8")
    assert "encoding" in train("--prepared", str(store))
    assert tokenstore.open_store(store).sources[0]["size"] == text.stat().st_size
    monkeypatch.setattr(prepared, "AUTO_PREPARE_BYTES", 100)
    monkeypatch.setenv("NLP_TASKS_CACHE", str(tmp_path / "cache"))
    err = train()
    assert err.startswith(f"note: {text} is 0.0 GB: preparing it once into {tmp_path / 'cache' / 'stores'}")
    assert len(list((tmp_path / "cache" / "stores").iterdir())) == 1


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.7])
def test_a_word_level_split_of_one_text_never_cuts_a_word(tmp_path, small_pieces, fraction):
    """The character cut falls inside the long word (or at a piece boundary before it): the word
    stays whole in the training part, in memory and in a store read in 16-byte pieces alike."""
    text = "one two " + "y" * 60 + " three four five six\n"
    (tmp_path / "one.txt").write_text(text, encoding="utf-8")
    settings = dict(level="word", valid_fraction=fraction)
    pipe, memory = _data(tmp_path / "one.txt", **settings)
    prepared.prepare(str(tmp_path / "one.txt"), tmp_path / "store", LanguageModelConfig(**settings),
                     stream=io.StringIO())
    _, stored = _data(tmp_path / "store", **settings)
    assert np.array_equal(stored.train, memory.train) and np.array_equal(stored.dev, memory.dev)
    words = set(text.split())
    for part in (memory.train, memory.dev):
        assert {pipe.vocab.tokens[i] for i in part} - {"<unk>", "<bos>", "<eos>", "<pad>"} <= words
