"""Chunk schemes and conlleval-compatible scores, checked against seqeval."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

from nlp_tasks.chunking import chunks, conlleval, detect_scheme, format_conlleval, from_iob2, to_iob2
from nlp_tasks.errors import UserError

tag = st.sampled_from(["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "B-MISC"])
sentences = st.lists(st.lists(tag, min_size=1, max_size=12), min_size=1, max_size=6)


def test_hand_written_cases_like_conlleval():
    assert chunks(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 2), ("LOC", 3, 4)]
    assert chunks(["O", "I-PER", "I-PER"]) == [("PER", 1, 3)]  # I- after O starts a chunk
    assert chunks(["B-PER", "I-LOC"]) == [("PER", 0, 1), ("LOC", 1, 2)]  # type change splits
    assert chunks(["B-PER", "B-PER"]) == [("PER", 0, 1), ("PER", 1, 2)]
    assert chunks(["I-ORG", "B-ORG", "I-ORG"]) == [("ORG", 0, 1), ("ORG", 1, 3)]
    assert chunks([]) == []


def test_boundaries_and_type_must_match():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "O", "O", "B-ORG"]]
    report = conlleval(gold, pred)
    assert report["correct"] == 0 and report["precision"] == 0 and report["f1"] == 0
    assert report["accuracy"] == 0.5
    perfect = conlleval(gold, gold)
    assert perfect["f1"] == 1.0 and perfect["per_type"]["PER"]["gold"] == 1
    text = format_conlleval(perfect)
    assert "FB1: 100.00" in text and "processed 4 tokens with 2 phrases" in text


@settings(max_examples=200, deadline=None)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@given(sentences, st.randoms(use_true_random=False))
def test_scores_match_seqeval(gold, rnd):
    pred = [[t if rnd.random() < 0.6 else rnd.choice(["O", "B-PER", "I-PER", "I-LOC", "B-ORG"]) for t in s]
            for s in gold]
    report = conlleval(gold, pred)
    assert report["precision"] == pytest.approx(precision_score(gold, pred, zero_division=0))
    assert report["recall"] == pytest.approx(recall_score(gold, pred, zero_division=0))
    assert report["f1"] == pytest.approx(f1_score(gold, pred, zero_division=0))
    theirs = classification_report(gold, pred, output_dict=True, zero_division=0)
    for kind, row in report["per_type"].items():
        if row["gold"]:
            assert row["f1"] == pytest.approx(theirs[kind]["f1-score"])
            assert row["gold"] == theirs[kind]["support"]


@settings(max_examples=300, deadline=None)
@given(sentences)
def test_scheme_conversions_round_trip_through_iob2(sents):
    for tags in sents:
        iob2 = to_iob2(tags, "iob1")  # any IOB sequence reads as IOB1
        assert chunks(iob2) == chunks(tags)
        for scheme in ("iob1", "iob2", "bioes"):
            converted = from_iob2(iob2, scheme)
            assert to_iob2(converted, scheme) == iob2
        assert detect_scheme([from_iob2(iob2, "bioes")]) in ("bioes", "iob2")


def test_detect_scheme():
    assert detect_scheme([["I-PER", "O"]]) == "iob1"
    assert detect_scheme([["B-PER", "I-PER"]]) == "iob2"
    assert detect_scheme([["S-PER", "O"]]) == "bioes"


@pytest.mark.parametrize("tags, scheme, message", [
    (["B-PER", "X-PER"], "iob2", "invalid tag 'X-PER'"),
    (["B-"], "iob2", "invalid tag"),
    (["S-PER"], "iob2", "not valid in the IOB2 scheme"),
    (["O"], "bilou", "unknown tag scheme"),
])
def test_invalid_tags(tags, scheme, message):
    with pytest.raises(UserError, match=message):
        to_iob2(tags, scheme)


def test_mismatched_lengths():
    with pytest.raises(UserError, match="sentence 1: 2 gold tags but 1 predicted"):
        conlleval([["O", "O"]], [["O"]])
