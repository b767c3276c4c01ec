"""Readers: label-text, tables, word vectors, UTF-8 checks, length bucketing."""

from __future__ import annotations

import numpy as np
import pytest

from nlp_tasks.batching import bucketed_batches, padding_overhead
from nlp_tasks.data.readers import (
    read_label_text,
    read_lines,
    read_table,
    reading_options,
)
from nlp_tasks.data.vectors import read_word_vectors
from nlp_tasks.errors import UserError
from nlp_tasks.io.json_data import LongInteger, parse_data_json, show_value
from nlp_tasks.text.labels import BadLabel, label_text, look_alike_labels


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_label_text_tolerates_crlf_bom_tabs_and_blank_lines(tmp_path):
    path = write(tmp_path, "a.txt", "\ufeff4 a fine film\r\n\r\n0\tawful , béart\r\n")
    assert read_label_text(path) == [("4", "a fine film"), ("0", "awful , béart")]


@pytest.mark.parametrize("content, message", [
    ("", "no examples"),
    ("4 fine\n3\n", "line 2: expected 'LABEL text'"),
    (b"4 fine\n3 caf\xe9\n", "line 2: not valid UTF-8"),
])
def test_label_text_errors_name_file_and_line(tmp_path, content, message):
    path = write(tmp_path, "bad.txt", content)
    with pytest.raises(UserError, match=message) as info:
        read_label_text(path)
    assert str(path) in str(info.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        read_lines(tmp_path / "nope.txt")
    with pytest.raises(UserError, match="is a directory"):
        read_lines(tmp_path)


def test_tables_csv_tsv_jsonl_json(tmp_path):
    csv_path = write(tmp_path, "d.csv", 'review,stars\n"great, really",5\nbad,1\n')
    assert read_table(csv_path, "review", "stars") == [("5", "great, really"), ("1", "bad")]
    tsv_path = write(tmp_path, "d.tsv", "text\tlabel\ngood\tpos\n")
    assert read_table(tsv_path) == [("pos", "good")]
    jsonl = write(tmp_path, "d.jsonl", '{"text": "good", "label": 1}\n\n{"text": "bad", "label": "neg"}\n')
    assert read_table(jsonl) == [("1", "good"), ("neg", "bad")]
    js = write(tmp_path, "d.json", '[{"text": "ok", "label": 2}]')
    assert read_table(js) == [("2", "ok")]
    assert read_table(js, label_column=None) == [(None, "ok")]


@pytest.mark.parametrize("name, content, message", [
    ("d.csv", "review,stars\nx,1\n", "no column 'text'"),
    ("d.jsonl", '{"text": "a", "label": 1}\n{"text": "b"}\n', "line 2: missing or invalid label"),
    ("d.jsonl", '{"text": "a", "label": 1}\nnot json\n', "line 2: invalid JSON"),
    ("d.jsonl", '{"text": 3, "label": 1}\n', "missing or non-text 'text'"),
    ("d.json", '{"text": "a"}', "expected a JSON list"),
    ("d.xml", "<a/>", "unknown table format"),
    ("d.csv", "text,label\n", "no examples"),
])
def test_table_errors(tmp_path, name, content, message):
    with pytest.raises(UserError, match=message):
        read_table(write(tmp_path, name, content))


HUGE = "1" + "0" * 4999  # over Python's 4,300-digit limit for converting an integer from text


@pytest.mark.parametrize("value, canonical", [
    (0, "0"), ("0", "0"), (" 0\t", "0"), ("\ufeff0", "0"), ("0\u200b", "0"), (-3, "-3"), (np.int64(4), "4"),
    ("cafe\u0301", "caf\u00e9"), ("very good", "very good"), ("9" * 18, "9" * 18), (True, "True"),
    (np.bool_(False), "False"),
])
def test_labels_written_differently_but_read_the_same_are_one(value, canonical):
    assert label_text(value) == canonical


@pytest.mark.parametrize("value, message", [
    (0.0, "the number 0.0, not a text or an integer"), (float("inf"), "the number inf"),
    (np.float32(1.0), "the number 1.0,"),
    (10**18, "an integer of 19 digits; an integer label has at most 18 digits"), (HUGE, "5,000 digits"),
    (LongInteger(5000), "an integer of 5,000 digits"), (None, "missing or invalid"),
    (" \ufeff", "empty label"), ([1], "not a text or an integer"),
])
def test_labels_that_are_no_label(value, message):
    with pytest.raises(BadLabel, match=message):
        label_text(value)


def test_json_integers_too_long_to_convert_are_kept_as_their_length():
    value = parse_data_json(f'{{"a": [{HUGE}, -{HUGE}, 7, 1.5]}}')["a"]
    assert [repr(v) for v in value[:2]] == ["an integer of 5,000 digits"] * 2 and value[2:] == [7, 1.5]
    with pytest.raises(BadLabel,
                       match="of more than 4,300 digits; an integer label has at most 18"):  # not a ValueError
        label_text(10**5000)
    assert show_value([60, 10**5000]) == "a list holding an integer too long to print"


def test_look_alike_labels():
    assert look_alike_labels(["neg", "pos", "0"]) is None
    assert look_alike_labels(["neg", "pos", "ne\u200bg"]) == ("neg", "ne\u200bg")


def test_label_text_lines_may_be_ruled_out_by_the_caller(tmp_path):
    path = write(tmp_path, "a.txt", "1 good\n(3 (2 x))\n0 bad\n")
    tree = lambda line: "a tree" if line.startswith("(") else None  # noqa: E731
    with pytest.raises(UserError, match=r"a\.txt, line 2: a tree$"):
        read_label_text(path, tree)
    with reading_options(on_bad_lines="skip"):
        assert read_label_text(path, tree) == [("1", "good"), ("0", "bad")]


def test_table_labels_are_canonical_and_floats_refused(tmp_path):
    jsonl = write(tmp_path, "d.jsonl", '{"text": "a", "label": 0}\n{"text": "b", "label": " 0"}\n')
    assert read_table(jsonl) == [("0", "a"), ("0", "b")]
    for label, message in (("0.0", "item 1: the label is the number 0.0"), (HUGE, "item 1: .* 5,000 digits")):
        with pytest.raises(UserError, match=message):
            read_table(write(tmp_path, "d.json", f'[{{"text": "a", "label": {label}}}]'))


def test_word_vectors_glove_and_word2vec(tmp_path):
    glove = write(tmp_path, "g.txt", "the 0.1 0.2 0.3\ncat 1 2 3\ndog 4 5 6\n")
    vectors, dim = read_word_vectors(glove, vocabulary={"cat", "the"})
    assert dim == 3 and sorted(vectors) == ["cat", "the"]
    np.testing.assert_allclose(vectors["cat"], [1, 2, 3])
    w2v = write(tmp_path, "w.txt", "2 2\nhello 0.5 0.5\nworld 1 1\n")
    assert read_word_vectors(w2v)[1] == 2
    with pytest.raises(UserError, match="line 2: 2 numbers, expected 3"):
        read_word_vectors(write(tmp_path, "b.txt", "a 1 2 3\nb 1 2\n"))
    with pytest.raises(UserError, match="not a number"):
        read_word_vectors(write(tmp_path, "c.txt", "a 1 x 3\n"))


def test_bucketing_covers_every_example_once_and_cuts_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, 1000)
    batches = bucketed_batches(lengths, 32, seed=1, epoch=0)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    assert padding_overhead(lengths, batches) < 1.15
    naive = [np.arange(i, min(i + 32, 1000)) for i in range(0, 1000, 32)]
    assert padding_overhead(lengths, naive) > 1.5
    again = bucketed_batches(lengths, 32, seed=1, epoch=0)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))  # pure function of (seed, epoch)
    other = bucketed_batches(lengths, 32, seed=1, epoch=1)
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other))
    ordered = bucketed_batches(lengths, 32, shuffle=False)
    assert list(lengths[np.concatenate(ordered)]) == sorted(lengths)


def test_conll_reader_handles_docstart_trailing_space_crlf_tabs_and_schemes(tmp_path):
    from nlp_tasks.data.readers import read_conll

    text = "-DOCSTART- O \r\n\r\nEU NNP B-NP I-ORG \r\nrejects\tO\r\n\r\nPeter I-PER\nBlackburn I-PER\n"
    sents = read_conll(write(tmp_path, "a.txt", text))
    assert sents == [(["EU", "rejects"], ["B-ORG", "O"]), (["Peter", "Blackburn"], ["B-PER", "I-PER"])]
    bioes = write(tmp_path, "b.txt", "New B-LOC\nYork E-LOC\nis O\nbig O\n\nBob S-PER\n")
    assert read_conll(bioes)[0][1] == ["B-LOC", "I-LOC", "O", "O"]
    assert read_conll(bioes)[1][1] == ["B-PER"]


def test_conll_reader_on_the_real_file(shared_data):
    from nlp_tasks.data.readers import read_conll

    sents = read_conll(shared_data / "conll2003" / "valid.txt")
    assert len(sents) == 3466 - 216  # the README's count includes the -DOCSTART- lines
    assert sum(len(t) for t, _ in sents) > 50000


@pytest.mark.parametrize("content, scheme, message", [
    ("EU B-ORG\nrejects\n", "auto", "line 2: a token without a tag"),
    ("EU B-ORG\nrejects X-ORG\n", "auto", "line 2: invalid tag 'X-ORG'"),
    ("EU S-ORG\n", "iob2", "sentence at line 1: tag 'S-ORG' is not valid in the IOB2 scheme"),
    ("-DOCSTART- O\n\n\n", "auto", "no sentences"),
    (b"caf\xe9 O\n", "auto", "line 1: not valid UTF-8"),
    ("EU O\n", "bilou", "unknown tag scheme"),
])
def test_conll_reader_errors(tmp_path, content, scheme, message):
    from nlp_tasks.data.readers import read_conll

    path = write(tmp_path, "bad.txt", content)
    with pytest.raises(UserError, match=message) as info:
        read_conll(path, scheme=scheme)
    assert "\n" not in str(info.value)


def test_word_vectors_stream_and_report_bad_bytes(tmp_path):
    path = write(tmp_path, "v.txt", b"a 1 2\nb 3 4\n\xff 5 6\n")
    with pytest.raises(UserError, match="line 3: not valid UTF-8"):
        read_word_vectors(path)
    with pytest.raises(UserError, match="file not found"):
        read_word_vectors(tmp_path / "none.txt")


def test_vector_dim_reads_one_line(tmp_path):
    from nlp_tasks.data.vectors import vector_dim

    assert vector_dim(write(tmp_path, "g.txt", "the 0.1 0.2 0.3\n")) == 3
    assert vector_dim(write(tmp_path, "w.txt", "10 7\nx 1 2 3 4 5 6 7\n")) == 7
    with pytest.raises(UserError, match="no vectors"):
        vector_dim(write(tmp_path, "e.txt", ""))
