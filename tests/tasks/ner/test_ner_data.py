"""``builtin:wikigold``, the NER data that ships with the package: its documents, its split by whole
documents, its tags, and its mistakes in one line (no data folder, no network)."""

from __future__ import annotations

import gzip
from collections import Counter

import pytest

from nlp_tasks.errors import UserError
from tasks.ner import data as nd
from tasks.ner import read_sentences

SIZES = {"train": (117, 1384, 32533), "dev": (14, 195, 4116), "test": (14, 117, 2358)}  # documents, sentences, tokens


@pytest.fixture(scope="module")
def documents():
    return list(nd.wikigold_documents())


def test_the_file_ships_in_the_package_with_its_notice():
    assert nd.BUILTIN_FILE.is_file() and nd.BUILTIN_FILE.name == "wikigold.conll.gz"
    notice = (nd.BUILTIN_FILE.parent / "NOTICE.md").read_text(encoding="utf-8")
    for words in ("Balasuriya", "CC BY 4.0", "People's Web", "gzip"):
        assert words in notice
    with gzip.open(nd.BUILTIN_FILE, "rb") as handle:
        assert len(handle.read()) == 318_530  # the original, only compressed


def test_documents_sentences_tokens_and_tags(documents):
    assert len(documents) == 145
    sentences = [s for d in documents for s in d]
    assert len(sentences) == 1696 and sum(len(tokens) for tokens, _ in sentences) == 39_007
    assert all(tokens and len(tokens) == len(tags) for tokens, tags in sentences)
    assert {t for _, tags in sentences for t in tags} == {"O", "I-PER", "I-LOC", "I-ORG", "I-MISC"}  # IOB1 as written
    assert sentences[0][0][:3] == ["010", "is", "the"] and "-DOCSTART-" not in {t for s, _ in sentences for t in s}


def test_the_split_is_by_whole_documents_every_tenth_two(documents):
    parts = [nd.wikigold_part(i) for i in range(len(documents))]
    assert parts[:10] == ["train"] * 8 + ["dev", "test"] and parts[18:20] == ["dev", "test"]
    for part, (n_documents, n_sentences, n_tokens) in SIZES.items():
        sentences = read_sentences(nd.BUILTIN, part)
        assert parts.count(part) == n_documents
        assert len(sentences) == n_sentences and sum(len(t) for t, _ in sentences) == n_tokens
    # No document in two parts: every document's sentences are all in the part of its index, and
    # the parts together are the corpus once (no sentence lost, none twice).
    keyed = {part: Counter(tuple(tokens) for tokens, _ in read_sentences(nd.BUILTIN, part)) for part in SIZES}
    for index, document in enumerate(documents):
        for tokens, _ in document:
            assert keyed[parts[index]][tuple(tokens)] >= 1
    everything = Counter(tuple(tokens) for d in documents for tokens, _ in d)
    assert sum(keyed.values(), Counter()) == everything


def test_tags_are_read_into_iob2_with_every_type_in_every_part():
    for part in SIZES:
        sentences = read_sentences(nd.BUILTIN, part, scheme="bioes")  # the corpus' own scheme, whatever is said
        tags = Counter(t for _, ts in sentences for t in ts)
        assert {t[2:] for t in tags if t.startswith("B-")} == {"PER", "LOC", "ORG", "MISC"}
        for _, ts in sentences:  # IOB2: an I-X only after B-X or I-X
            assert all(t[0] != "I" or (p != "O" and p[2:] == t[2:]) for p, t in zip(["O", *ts], ts))
    assert sum(1 for _, ts in read_sentences(nd.BUILTIN) for t in ts if t.startswith("B-")) == 2995


def test_split_names_and_defaults():
    dev = read_sentences(nd.BUILTIN, "dev")
    assert read_sentences(f"{nd.BUILTIN}:validation") == dev == read_sentences(f"{nd.BUILTIN}:dev", "test")
    assert read_sentences(nd.BUILTIN) == read_sentences(f"{nd.BUILTIN}:train")  # a reader's default: train
    assert nd.default_dev(nd.BUILTIN) == nd.default_dev(f"{nd.BUILTIN}:train") == f"{nd.BUILTIN}:dev"
    assert nd.default_dev(f"{nd.BUILTIN}:test") is None and nd.default_dev("train.txt") is None
    assert nd.default_dev([(["EU"], ["B-ORG"])]) is None


@pytest.mark.parametrize("source, message", [
    ("builtin:wikigold:training", "builtin:wikigold: unknown split 'training' (its parts are train, dev and test)"),
    ("builtin:wikigold:train[:100]", "unknown split 'train[:100]'"),
    ("builtin:conll2003", "unknown built-in data set 'builtin:conll2003' (known: builtin:wikigold)"),
])
def test_a_wrong_name_or_split_is_one_line(source, message):
    with pytest.raises(UserError) as err:
        read_sentences(source)
    assert message in err.value.message and "\n" not in err.value.message
