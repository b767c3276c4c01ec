"""``builtin:rt-snippets``, the sentiment data that ships with the package: its rows, its five
classes and binary view, its split by text, and its mistakes in one line (no data folder, no
network)."""

from __future__ import annotations

import gzip
from collections import Counter

import pytest

from nlp_tasks.errors import UserError
from tasks.sentiment import data as sd
from tasks.sentiment import read_examples

SIZES = {"train": 8522, "dev": 1048, "test": 1035}


@pytest.fixture(scope="module")
def rows():
    return list(sd.snippet_rows())


def test_the_file_ships_in_the_package_with_its_notice():
    assert sd.BUILTIN_FILE.is_file() and sd.BUILTIN_FILE.name == "rt-snippets.tsv.gz"
    notice = (sd.BUILTIN_FILE.parent / "NOTICE.md").read_text(encoding="utf-8")
    for words in ("Hutto", "Copyright (c) 2016 C.J. Hutto", "MIT", "Pang", "CC BY 4.0", "gzip"):
        assert words in notice
    with gzip.open(sd.BUILTIN_FILE, "rb") as handle:
        data = handle.read()
    assert len(data) == 1_383_117 and data.startswith(b"id\tsentiment\ttext\r\n")  # the original, only compressed


def test_rows_and_the_five_classes(rows):
    assert len(rows) == 10_605 and len({i for i, _, _ in rows}) == 10_605
    assert all(-4 <= mean <= 4 and text.strip() for _, mean, text in rows)
    assert rows[0][:2] == ("1", 2.26666666667) and rows[0][2].startswith("The Rock is destined")
    counts = Counter(sd.five_class(mean) for _, mean, _ in rows)
    assert [counts[str(k)] for k in range(5)] == [1021, 3772, 1022, 3751, 1039]
    # equal-width bins of -4..4, each closed on the left (the last one on both sides)
    assert [sd.five_class(v) for v in (-4, -2.41, -2.4, -0.81, -0.8, 0, 0.79, 0.8, 2.39, 2.4, 4)] == \
        ["0", "0", "1", "1", "2", "2", "2", "3", "3", "4", "4"]


def test_the_split_is_by_text_and_no_text_is_in_two_parts(rows):
    parts = {part: read_examples(sd.BUILTIN, part) for part in SIZES}
    assert {part: len(examples) for part, examples in parts.items()} == SIZES
    texts = {part: {text for text, _ in examples} for part, examples in parts.items()}
    assert not (texts["train"] & texts["dev"] or texts["train"] & texts["test"] or texts["dev"] & texts["test"])
    assert sorted(t for examples in parts.values() for t, _ in examples) == sorted(text for _, _, text in rows)
    twice = [text for text, n in Counter(text for _, _, text in rows).items() if n == 2]
    assert len(twice) == 2  # rated twice, in one part
    for part in SIZES:  # every class in every part
        assert {label for _, label in parts[part]} == {"0", "1", "2", "3", "4"}
    assert sd.snippet_part("Effective but too tepid biopic") in SIZES


def test_the_binary_view_drops_the_neutral_zeros_like_sst2(rows):
    zeros = sum(1 for _, mean, _ in rows if mean == 0)
    assert zeros == 37
    counts = Counter(label for part in SIZES for _, label in read_examples(sd.BUILTIN_BINARY, part))
    assert counts == {"0": 5326, "1": 5242}
    means = {text: mean for _, mean, text in rows}
    five = dict(read_examples(sd.BUILTIN, "dev"))
    for text, label in read_examples(sd.BUILTIN_BINARY, "dev"):  # the same snippets in the same parts
        assert text in five and means[text] != 0 and (label == "1") == (means[text] > 0)


def test_split_names_labels_and_defaults():
    dev = read_examples(sd.BUILTIN, "dev")
    assert read_examples(f"{sd.BUILTIN}:validation") == dev == read_examples(f"{sd.BUILTIN}:dev", "test")
    assert read_examples(sd.BUILTIN) == read_examples(f"{sd.BUILTIN}:train")
    assert {label for _, label in read_examples(sd.BUILTIN, "test", label_column=None)} == {None}
    assert sd.default_dev(sd.BUILTIN) == f"{sd.BUILTIN}:dev"
    assert sd.default_dev(f"{sd.BUILTIN_BINARY}:train") == f"{sd.BUILTIN_BINARY}:dev"
    assert sd.default_dev(f"{sd.BUILTIN}:test") is None and sd.default_dev("sst5.train.txt") is None


@pytest.mark.parametrize("source, options, message", [
    ("builtin:rt-snippets:validate", {}, "builtin:rt-snippets: unknown split 'validate' (its parts are train, dev "
                                         "and test)"),
    ("builtin:sst5", {}, "unknown built-in data set 'builtin:sst5' (known: builtin:rt-snippets, "
                         "builtin:rt-snippets-binary)"),
    ("builtin:rt-snippets", {"trees_only": True}, "two classes are builtin:rt-snippets-binary"),
])
def test_a_wrong_name_split_or_setting_is_one_line(source, options, message):
    with pytest.raises(UserError) as err:
        read_examples(source, **options)
    assert message in err.value.message and "\n" not in err.value.message
