"""Data sources and reader limits: ``name:split`` parsing, what a path or hub name resolves to,
special files, local folders for ``datasets`` (offline), an unreachable hub, the per-example
length bound, JSON nesting depth, line ends, skipping bad lines, PTB's character layout."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from nlp_tasks.data import readers as data
from nlp_tasks.data import sources, vectors
from nlp_tasks.data.readers import (
    json_depth,
    read_conll,
    read_label_text,
    read_lines,
    read_table,
    read_text,
    reading_options,
    split_lines,
)
from nlp_tasks.data.sources import check_dataset_folder, load_hub_dataset, resolve_source, split_source
from nlp_tasks.errors import UserError
from tasks.charlm import data as charlm_data
from tasks.music import data as music_data
from tasks.music import sources as music_sources


def write(path, content):
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def within(seconds, fn):
    """``fn()``'s outcome (value or exception), failing the test if it has not ended in ``seconds``."""
    outcome = []

    def run():
        try:
            outcome.append(("value", fn()))
        except BaseException as err:  # noqa: BLE001 - handed back to the test
            outcome.append(("error", err))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"no answer within {seconds} s (blocked)"
    kind, value = outcome[0]
    if kind == "error":
        raise value
    return value


# ---------------------------------------------------------------------- 15.1 name:split
@pytest.mark.parametrize("source, expected", [
    ("conll2003", ("conll2003", None)),
    ("conll2003:validation", ("conll2003", "validation")),
    ("conll2003:train[:5000]", ("conll2003", "train[:5000]")),
    ("SetFit/sst5:validation[10%:]", ("SetFit/sst5", "validation[10%:]")),
    ("SetFit/sst5:train+validation", ("SetFit/sst5", "train+validation")),
    ("owner/name:train[:10%]+test[-5%:]", ("owner/name", "train[:10%]+test[-5%:]")),
])
def test_split_is_everything_after_the_first_colon_of_a_hub_name(source, expected):
    assert split_source(source) == expected
    assert resolve_source(source) == ("hub", *expected)


def test_local_paths_with_splits_and_colons(tmp_path):
    folder = tmp_path / "my:ner"
    folder.mkdir()
    assert split_source(f"{folder}:train[:5000]") == (str(folder), "train[:5000]")
    assert resolve_source(f"{folder}:test") == ("folder", str(folder), "test")
    assert split_source(str(folder)) == (str(folder), None)  # an existing path with a colon: whole
    assert split_source(f"{folder}:sub/file.txt") == (f"{folder}:sub/file.txt", None)  # a path, not a split
    file = write(tmp_path / "a:b.txt", "1 fine\n")
    assert resolve_source(str(file)) == ("file", str(file), None)


def test_an_existing_path_is_never_a_hub_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conll2003").mkdir()
    assert not sources.looks_like_hub_name("conll2003")
    assert resolve_source("conll2003:test[:5]") == ("folder", "conll2003", "test[:5]")
    with pytest.raises(UserError, match="file not found"):
        resolve_source("./missing:train")


def test_every_task_reads_the_split_syntax(tmp_path, monkeypatch):
    """The task dispatchers hand the whole split to ``datasets``; and a file has no splits."""
    seen = []
    monkeypatch.setattr(sources, "hub_unreachable", lambda: None)

    def fake_load(name, split=None, **kwargs):
        seen.append((name, split))
        raise RuntimeError("stop here")

    import datasets

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    from tasks.ner import read_sentences
    from tasks.sentiment import read_examples

    for reader in (read_sentences, read_examples, charlm_data.read_corpus):
        with pytest.raises(UserError, match=r"split 'train\[:5000\]'"):
            reader("conll2003:train[:5000]")
    assert seen == [("conll2003", "train[:5000]")] * 3
    path = write(tmp_path / "s.txt", "1 fine\n")
    with pytest.raises(UserError, match="a file has no splits"):
        read_examples(f"{path}:train[:5]")
    with pytest.raises(UserError, match="file not found"):
        music_sources.read_pieces("owner/name:train")


# ---------------------------------------------------------------------- 22.4 special files, folders
def test_fifo_and_devices_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    readers = [read_text, read_lines, read_label_text, read_conll, lambda p: vectors.read_word_vectors(p),
               lambda p: charlm_data.read_corpus(str(p)), lambda p: music_data.read_midi(p),
               lambda p: read_table(fifo.with_suffix(".json"))]
    os.mkfifo(fifo.with_suffix(".json"))
    for reader in readers:
        with pytest.raises(UserError, match=r"not a regular file \(a FIFO\)"):
            within(5, lambda: reader(fifo))
    with pytest.raises(UserError, match=r"not a regular file \(a device\)"):
        within(5, lambda: read_text("/dev/zero"))
    assert music_data.json_splits(fifo.with_suffix(".json")) == []


def test_a_folder_goes_to_datasets_only_with_data_files(tmp_path):
    (tmp_path / "notes.md").write_text("hello")
    (tmp_path / "a.png").write_bytes(b"\x89PNG")
    with pytest.raises(UserError, match=f"{tmp_path}: the folder holds no data files"):
        check_dataset_folder(tmp_path)
    os.mkfifo(tmp_path / "train.csv")
    with pytest.raises(UserError, match="train.csv: not a regular file"):
        within(5, lambda: check_dataset_folder(tmp_path))


def test_a_local_folder_is_read_offline(tmp_path, monkeypatch):
    write(tmp_path / "train.csv", "text,label\ngood,1\nbad,0\n")
    write(tmp_path / "test.csv", "text,label\nfine,1\nawful,0\nok,1\n")
    monkeypatch.setattr(sources, "hub_unreachable", lambda: pytest.fail("a local folder must not probe the hub"))
    import datasets
    from huggingface_hub import constants

    real = datasets.load_dataset
    modes = []

    def spy(*args, **kwargs):
        modes.append((datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE))
        return real(*args, **kwargs)

    monkeypatch.setattr(datasets, "load_dataset", spy)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    rows = load_hub_dataset(str(tmp_path), split="test[:2]")
    assert rows["text"] == ["fine", "awful"] and modes == [(True, True)]
    assert (datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE) == (False, False)  # restored


# ---------------------------------------------------------------------- 15.7 an unreachable hub
def test_an_unreachable_hub_fails_at_once_in_one_line(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: refused
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert "cannot be reached" in sources.hub_unreachable()
    start = time.perf_counter()
    with pytest.raises(UserError, match=r"hub is not available .* NLP_TASKS_DATA=") as info:
        load_hub_dataset("nlp-tasks-test/no-such-set", split="train")
    assert time.perf_counter() - start < 30 and "\n" not in info.value.message


def test_offline_mode_is_detected_without_a_connection(monkeypatch):
    import socket

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("no connection in offline mode"))
    assert "offline mode" in sources.hub_unreachable()


# ---------------------------------------------------------------------- 22.5 bounded examples
def test_an_example_longer_than_the_maximum_is_refused_naming_file_and_line(tmp_path, monkeypatch):
    path = write(tmp_path / "s.txt", "1 fine\n0 " + "x" * 20 + "\n")
    assert len(read_label_text(path)) == 2
    with reading_options(max_example_chars=10):
        with pytest.raises(UserError, match=f"{path}, line 2: 22 characters in one example, more than the "
                                            "maximum 10 .*--max-example-chars"):
            read_label_text(path)
    assert data.max_example_chars() == data.MAX_EXAMPLE_CHARS  # restored
    monkeypatch.setenv(data.MAX_EXAMPLE_CHARS_ENV, "10")
    with pytest.raises(UserError, match="line 2: 22 characters"):
        read_label_text(path)
    monkeypatch.setenv(data.MAX_EXAMPLE_CHARS_ENV, "many")
    with pytest.raises(UserError, match=data.MAX_EXAMPLE_CHARS_ENV):
        read_label_text(path)


@pytest.mark.parametrize("name, content, limit, message", [
    ("t.csv", "text,label\nfine,1\n" + "x" * 30 + ",0\n", 20, r"line 3: a field longer than the maximum example of 20"),
    ("t.jsonl", '{"text": "fine", "label": 1}\n{"text": "' + "x" * 30 + '", "label": 0}\n', 40,
     "line 2: 54 characters"),
    ("t.json", '[{"text": "fine", "label": 1}, {"text": "' + "x" * 30 + '", "label": 0}]', 20, "item 2: 30 characters"),
    ("c.txt", "EU B-ORG\n" + "".join(f"w{i} O\n" for i in range(10)), 20, "sentence at line 1: 2[0-9] characters"),
])
def test_every_line_reader_bounds_examples(tmp_path, name, content, limit, message):
    path = write(tmp_path / name, content)
    reader = read_conll if name.startswith("c") else read_table
    with reading_options(max_example_chars=limit), pytest.raises(UserError, match=message):
        reader(path)


def test_charlm_lines_mode_bounds_lines_and_stream_mode_does_not(tmp_path):
    path = write(tmp_path / "c.txt", "abc\n" + "x" * 50 + "\n")
    with reading_options(max_example_chars=20):
        assert charlm_data.read_corpus(str(path), mode="stream")
        with pytest.raises(UserError, match=f"{path}, line 2: 50 characters .*--mode stream"):
            charlm_data.read_corpus(str(path), mode="lines")


def test_python_examples_are_bounded_too():
    from tasks.ner import read_sentences
    from tasks.sentiment import read_examples

    with reading_options(max_example_chars=10):
        with pytest.raises(UserError, match="example 1: 11 characters"):
            read_examples([("x" * 11, "1")])
        with pytest.raises(UserError, match="sentence 1: 12 characters"):
            read_sentences([(["abcde"] * 2, ["O", "O"])])


@pytest.mark.parametrize("text, depth", [
    ("{}", 1), ('{"a": [1, {"b": []}]}', 4), ('["[[[[", "}}}"]', 1), ('["\\"[[["]', 1), ("5", 0),
])
def test_json_depth_ignores_brackets_in_strings(text, depth):
    assert json_depth(text)[0] == depth
    assert depth == _python_depth(json.loads(text))


def _python_depth(value):
    if isinstance(value, (list, dict)):
        items = value.values() if isinstance(value, dict) else value
        return 1 + max((_python_depth(v) for v in items), default=0)
    return 0


def test_deep_json_is_refused_before_parsing(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    table = write(tmp_path / "t.json", '[{"text": "a", "label": 1, "x": ' + deep + "}]")
    with pytest.raises(UserError, match="line 1: JSON nested 100,?002 levels deep, more than the 100 allowed"):
        read_table(table)
    with pytest.raises(UserError, match="line 2: JSON nested"):
        read_table(write(tmp_path / "t.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "x": ' + deep + "}\n"))
    with pytest.raises(UserError, match="JSON nested"):
        music_data.read_pianoroll_json(write(tmp_path / "roll.json", '{"train": ' + deep + "}"))
    folder = tmp_path / "set"
    folder.mkdir()
    write(folder / "train.jsonl", '{"text": "a", "label": 1, "x": ' + deep + "}\n")
    with pytest.raises(UserError, match="train.jsonl, line 1: JSON nested"):
        check_dataset_folder(folder)


# ---------------------------------------------------------------------- 15.8 lines, bad lines, layout
def test_lines_end_only_at_newline_crlf_and_cr():
    text = "a\u2028b\u0085c\x0bd\x0ce\x1cf\x1dg\x1eh\u2029i\r\nj\rk\nl\n"
    assert split_lines(text) == ["a\u2028b\u0085c\x0bd\x0ce\x1cf\x1dg\x1eh\u2029i", "j", "k", "l"]
    assert split_lines("") == [] and split_lines("\n\n") == ["", ""] and split_lines("x") == ["x"]
    assert split_lines("a\r\nb\rc\n\n") == ["a", "b", "c", ""]  # no other breaks: the fast path
    assert split_lines("a\r\nb\n\n\u2028") == ["a", "b", "", "\u2028"]


def test_a_separator_inside_a_line_stays_in_the_text(tmp_path):
    path = write(tmp_path / "s.txt", "1 a\u2028b\n0 c\x0cd\n")
    assert read_label_text(path) == [("1", "a\u2028b"), ("0", "c\x0cd")]


def test_bad_lines_error_by_default_and_are_skipped_with_one_warning(tmp_path, capsys):
    path = write(tmp_path / "s.txt", "1 fine\n3\n0 dull\n4\n")
    with pytest.raises(UserError, match="line 2: expected 'LABEL text'"):
        read_label_text(path)
    with reading_options(on_bad_lines="skip"):
        assert read_label_text(path) == [("1", "fine"), ("0", "dull")]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: {path}: skipped 2 bad lines (first: line 2: ")
    with reading_options(on_bad_lines="skip"), pytest.raises(UserError, match="all bad lines"):
        read_label_text(write(tmp_path / "b.txt", "3\n4\n"))


def test_skipping_bad_lines_in_conll_and_jsonl(tmp_path, capsys):
    conll = write(tmp_path / "c.txt", "EU B-ORG\nrejects\nGerman B-MISC\n\nPeter B-PER\n")
    with pytest.raises(UserError, match="line 2: a token without a tag"):
        read_conll(conll)
    jsonl = write(tmp_path / "t.jsonl",
                  '{"text": "a", "label": 1}\n{"text": \n{"label": 0}\n{"text": "b", "label": 0}\n')
    with reading_options(on_bad_lines="skip"):
        assert read_conll(conll) == [(["EU", "German"], ["B-ORG", "B-MISC"]), (["Peter"], ["B-PER"])]
        assert read_table(jsonl) == [("1", "a"), ("0", "b")]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "skipped 1 bad line (first: line 2" in err[0] and "skipped 2 bad lines" in err[1]
    with pytest.raises(UserError, match="on_bad_lines"):
        with reading_options(on_bad_lines="warn"):
            pass


def test_ptb_character_layout_is_detected_and_read_with_a_separator(tmp_path, capsys):
    path = write(tmp_path / "ptb.txt", "a e r _ b a n k n o t e\nb e r l i t z _ c a l l o w a y\n")
    assert charlm_data.read_corpus(str(path)) == [path.read_text()]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "separated by spaces" in err[0] and "--separator" in err[0]
    docs = charlm_data.read_corpus(str(path), separator=" ")
    assert docs == ["aer banknote\nberlitz calloway\n"] and not capsys.readouterr().err
    plain = write(tmp_path / "plain.txt", "the bank note\nis a b c fine\n")
    charlm_data.read_corpus(str(plain))
    assert not capsys.readouterr().err


def test_the_option_help_states_the_real_default():
    from click.testing import CliRunner

    from nlp_tasks.cli import main as cli

    result = CliRunner().invoke(cli.cli, ["sentiment", "train", "--help"], terminal_width=200)
    text = " ".join(result.output.split())
    assert f"${data.MAX_EXAMPLE_CHARS_ENV} or {data.MAX_EXAMPLE_CHARS:,}" in text, text
    assert "--on-bad-lines [error|skip]" in text


def test_word_vector_lines_are_read_only_up_to_the_bound(tmp_path):
    path = write(tmp_path / "v.txt", "the 0.1 0.2\ncat 0.5 0.5\n" + "dog" + " 0.25" * 1000)  # no line end
    with reading_options(max_example_chars=20):
        with pytest.raises(UserError, match=f"{path}, line 3: a line longer than the maximum example of 20 characters"):
            vectors.read_word_vectors(path)
        assert vectors.vector_dim(path) == 2
    assert len(vectors.read_word_vectors(write(tmp_path / "w.txt", "the 0.1 0.2\ncat 0.5 0.5\n"))[0]) == 2


def test_json_depth_of_text_whose_brackets_are_all_inside_strings():
    from nlp_tasks.data.readers import check_json_depth, json_depth

    text = '{"a": "' + "[" * 500 + '"}'
    assert json_depth('"[[["') == (0, 1)
    assert json_depth(text) == (1, 1)
    check_json_depth(text, "x.json")  # no error: one level deep


def test_one_table_of_split_names():
    from nlp_tasks.data.sources import hub_split, pick_split, split_role

    assert [split_role(s) for s in ("train", "dev", "valid", "validation", "test", "train[:10]")] == \
        ["train", "dev", "dev", "dev", "test", None]
    assert [hub_split(s) for s in ("train", "dev", "valid", "test", "train[:10]")] == \
        ["train", "validation", "validation", "test", "train[:10]"]
    assert pick_split("dev", ["train", "valid", "test"]) == "valid"
    assert pick_split("validation", {"train": 1, "valid": 2}) == "valid"
    assert pick_split("dev", ["train", "dev"]) == "dev" and pick_split("other", ["train"]) == "other"


def test_a_builtin_source_names_its_part_or_says_in_one_line_what_is_wrong():
    from nlp_tasks.data.sources import builtin_part

    known = ("builtin:a", "builtin:a-2")
    assert builtin_part("builtin:a", known, "train") == ("builtin:a", "train")
    assert builtin_part("builtin:a", known, "test") == ("builtin:a", "test")
    assert builtin_part("builtin:a-2:validation", known, "train") == ("builtin:a-2", "dev")
    assert builtin_part("builtin:a:valid", known, "test") == ("builtin:a", "dev")  # the name's split wins
    for other in ("a.txt", "owner/a:test", ["x"], None):
        assert builtin_part(other, known, "train") is None
    for source, message in (("builtin:b", "unknown built-in data set 'builtin:b' (known: builtin:a, builtin:a-2)"),
                            ("builtin:a:train[:10]", "builtin:a: unknown split 'train[:10]' (its parts are train, "
                                                     "dev and test)")):
        with pytest.raises(UserError) as err:
            builtin_part(source, known, "train")
        assert err.value.message == message
