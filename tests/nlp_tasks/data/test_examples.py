"""Data bigger than memory for NER and sentiment (issue 34): files read a block at a time, examples
held in a memory-mapped Arrow table, training and evaluation reading it a batch at a time, and
predict --input written as it goes. Each is checked against the in-memory path it replaces."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest

from nlp_tasks.data import examples as examples_module
from nlp_tasks.data.examples import ExampleTable
from nlp_tasks.data.readers import read_text, reading_options, split_lines, text_lines
from nlp_tasks.errors import UserError
from nlp_tasks.saving.checkpoint import fingerprint

NER_COLUMNS = {"tokens": "tokens", "tags": "tokens"}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Tables are written under the cache folder: a test's own."""
    monkeypatch.setenv("NLP_TASKS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "examples"


# ------------------------------------------------------------------------------------------ lines
def test_lines_read_a_block_at_a_time_are_the_lines_of_the_whole_text(tmp_path):
    """Every cut of a block (inside a character of several bytes, between the two halves of a
    \\r\\n, after a BOM) gives the lines of the text read whole, and an over-long line is counted
    to its end, never held."""
    rng = random.Random(7)
    alphabet = ["a", "é", "€", "😀", "\n", "\r", "\r\n", "\u2028", "\x0b", " "]
    path = tmp_path / "t.txt"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        path.write_bytes((b"\xef\xbb\xbf" if rng.random() < 0.2 else b"") + text.encode("utf-8"))
        whole = split_lines(read_text(path))
        for block in (1, 2, 3, 7):
            assert [line for _, line in text_lines(path, block=block)] == whole
            kept = [line for _, line in text_lines(path, keepends=True, block=block)]
            assert kept == list(io.StringIO(text, newline=""))  # what the csv module reads
            with reading_options(max_example_chars=3):
                assert list(text_lines(path, block=block)) == [
                    (n, line if len(line) <= 3 else len(line)) for n, line in enumerate(whole, start=1)]


def test_bad_utf8_names_its_line_when_read_in_blocks(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"one\ntwo\nth\xffree\n")
    with pytest.raises(UserError, match=r"t.txt, line 3: not valid UTF-8 \(byte 0xff\)"):
        list(text_lines(path, block=2))


# ------------------------------------------------------------------------------------------ the table
def test_a_table_reads_like_the_list_it_was_written_from(cache):
    rows = [(["EU", "rejects", "Ünïcode"], ["B-ORG", "O", "O"]), (["a"], ["O"]), ([], [])] * 3
    table = ExampleTable.write(iter(rows), NER_COLUMNS, batch_rows=2)  # several batches in the file
    assert len(table) == 9 and table == rows and list(table) == rows and table[-1] == rows[-1]
    assert table[2:7] == rows[2:7] and table.take([4, 0, 4]) == [rows[4], rows[0], rows[4]]
    assert table.lengths("tokens").tolist() == [len(t) for t, _ in rows]
    assert fingerprint(table, None) == fingerprint(rows, None)  # a run's identity is the data's, however held
    assert os.listdir(cache) == []  # the file is unlinked once mapped: nothing left behind
    texts = ExampleTable.write([("good", "1"), ("naïve", None)], {"text": "text", "label": "text"})
    assert texts.lengths("text").tolist() == [4, 5] and texts[1] == ("naïve", None)
    with pytest.raises(IndexError):
        texts[2]


def test_a_reader_error_while_writing_leaves_no_file(cache):
    def rows():
        yield (["a"], ["O"])
        raise UserError("data.txt, line 2: a token without a tag")

    with pytest.raises(UserError, match="line 2"):
        ExampleTable.write(rows(), NER_COLUMNS)
    assert os.listdir(cache) == []


def test_the_file_of_a_process_killed_while_writing_is_removed_by_the_next(cache):
    cache.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    leftover, alive, other = (cache / f"examples-{dead}-x.arrow", cache / f"examples-{os.getppid()}-y.arrow",
                              cache / "notes.txt")
    for path in (leftover, alive, other):
        path.write_bytes(b"x")
    ExampleTable.write([], NER_COLUMNS)
    assert sorted(os.listdir(cache)) == sorted([alive.name, other.name])


# ------------------------------------------------------------------------------------------ the tasks
CONLL = "-DOCSTART- O\n\nEU B-ORG\nrejects O\nGerman B-MISC\ncall O\n\nPeter B-PER\nBlackburn I-PER\n\n" \
        "BRUSSELS B-LOC\n1996-08-22 O\n\nThe O\nEuropean B-ORG\nCommission I-ORG\nsaid O\n\n"


def test_ner_training_reads_a_file_into_a_table_and_serves_the_batches_of_the_list(tmp_path):
    from tasks.ner import NERConfig, NERPipeline, read_sentences

    path = tmp_path / "train.txt"
    path.write_text(CONLL * 7, encoding="utf-8")
    made = {}
    for name, source in (("file", str(path)), ("list", read_sentences(str(path)))):
        pipe = NERPipeline(NERConfig(batch_size=4, word_dropout=0.3))
        data = pipe.read_training_data(source, source)
        made[name] = (data, pipe, [pipe.batches(data.train).make_batch(b, np.random.default_rng(b[0]))
                                   for b in pipe.batches(data.train).order(1)])
    (table, file_pipe, file_batches), (held, list_pipe, list_batches) = made["file"], made["list"]
    assert isinstance(table.train, ExampleTable) and isinstance(held.train, list) and table.train == held.train
    assert table.fingerprint == held.fingerprint and file_pipe.labels == list_pipe.labels
    assert file_pipe.vocabs["words"].tokens == list_pipe.vocabs["words"].tokens
    for (x_file, y_file), (x_list, y_list) in zip(file_batches, list_batches, strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(x_file, x_list)) and np.array_equal(y_file, y_list)


def test_sentiment_training_reads_files_into_tables_and_serves_the_batches_of_the_list(tmp_path):
    from tasks.sentiment import SentimentConfig, SentimentPipeline, read_examples

    pairs = [(f"{word} film number {i}", str(i % 3)) for i, word in enumerate(["good", "bad", "dull"] * 9)]
    label_text = tmp_path / "train.txt"
    label_text.write_text("".join(f"{label} {text}\n" for text, label in pairs), encoding="utf-8")
    table = tmp_path / "train.csv"
    table.write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in pairs), encoding="utf-8")
    for path in (label_text, table):
        made = []
        for source in (str(path), read_examples(str(path))):
            pipe = SentimentPipeline(SentimentConfig(batch_size=4, class_weights=True))
            data = pipe.read_training_data(source)
            batches = pipe.training_plan(data, pipe.build_model()).batches
            made.append((data, [batches.make_batch(b, None) for b in batches.order(2)]))
        (data_file, file_batches), (data_list, list_batches) = made
        assert isinstance(data_file.train, ExampleTable) and data_file.train == data_list.train == pairs
        assert data_file.fingerprint == data_list.fingerprint
        for a, b in zip(file_batches, list_batches, strict=True):
            assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_evaluation_a_block_at_a_time_scores_as_one_block(tmp_path, models, monkeypatch):
    """NER and sentiment evaluate a table a block at a time: the same report as in one block."""
    from tasks.ner import NERPipeline
    from tasks.ner import pipeline as ner_pipeline
    from tasks.sentiment import SentimentPipeline
    from tasks.sentiment import pipeline as sentiment_pipeline

    conll = tmp_path / "test.txt"
    words = [("Peter", "B-PER"), ("visited", "O"), ("Paris", "B-LOC"), ("Paris", "B-LOC"), ("film", "O")] * 5
    conll.write_text("".join(f"{w} {t}\n" + "\n" * (w in ("Paris", "film")) for w, t in words), encoding="utf-8")
    texts = tmp_path / "test.txt.csv"
    texts.write_text("text,label\n" + "good film,1\nbad film,0\nfilm,1\n" * 5, encoding="utf-8")
    for module, pipe, data in ((ner_pipeline, NERPipeline.load(models["ner"]), conll),
                               (sentiment_pipeline, SentimentPipeline.load(models["sentiment"]), texts)):
        whole = pipe.evaluate(str(data))
        monkeypatch.setattr(module, "EVALUATION_BLOCK", 4)
        blocks = pipe.evaluate(str(data))
        for report in (whole, blocks):
            report.pop("seconds"), report.pop("sentences_per_second", None), report.pop("texts_per_second", None)
        assert blocks == whole


def test_predict_input_is_written_block_by_block_as_in_one_block(tmp_path, models, monkeypatch, capsys):
    """``predict --input`` reads, predicts and prints a block at a time; the output is that of one block."""
    from nlp_tasks.cli import options
    from nlp_tasks.cli.main import main

    lines = tmp_path / "in.txt"
    lines.write_text("Peter visited Paris\n\ngood film\n" * 4 + "bad film\n", encoding="utf-8")
    conll = tmp_path / "in.conll"
    conll.write_text(CONLL * 2, encoding="utf-8")
    words = tmp_path / "words.txt"
    words.write_text("kit\n\ntad\ndim\n" * 3, encoding="utf-8")  # the tiny g2p model's letters
    runs = [["sentiment", "predict", str(models["sentiment"]), "first text", "--input", str(lines)],
            ["sentiment", "predict", str(models["sentiment"]), "--input", str(lines), "--json"],
            ["ner", "predict", str(models["ner"]), "--input", str(lines), "--json"],
            ["ner", "predict", str(models["ner"]), "--input", str(lines), "--format", "tags"],
            ["ner", "predict", str(models["ner"]), "--input", str(conll), "--conll", "--json"],
            ["g2p", "predict", str(models["g2p"]), "--input", str(words), "--json"],
            ["g2p", "predict", str(models["g2p"]), "mid", "--input", str(words), "--nbest", "2"]]
    for args in runs:
        outputs = []
        for block in (options.PREDICT_BLOCK, 3):
            monkeypatch.setattr(options, "PREDICT_BLOCK", block)
            code = main(args)
            printed = capsys.readouterr()
            assert code == 0, printed.err
            outputs.append(printed.out)
        assert outputs[0] == outputs[1] and outputs[0], args
        if "--json" in args:
            assert len(json.loads(outputs[0])) == (9 if "--conll" not in args else 8)
    # charlm score ranks every text against every other: it reads them all (texts_from)


def test_a_cache_folder_that_cannot_be_written_falls_back_to_the_temporary_folder(tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("NLP_TASKS_CACHE", str(blocked))
    monkeypatch.setattr(examples_module.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    assert ExampleTable.write([("a", "1")], {"text": "text", "label": "text"}) == [("a", "1")]
    assert os.listdir(tmp_path / "tmp" / "nlp-tasks-examples") == [] and blocked.read_text() == "not a folder"
