"""Chunk tags: scheme detection, conversion between schemes, conlleval's chunk extraction.

The conlleval scores over the chunks are tested in tests/nlp_tasks/test_metrics.py."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp_tasks.errors import UserError
from nlp_tasks.text.chunking import chunks, detect_scheme, from_iob2, to_iob2

tag = st.sampled_from(["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "B-MISC"])
sentences = st.lists(st.lists(tag, min_size=1, max_size=12), min_size=1, max_size=6)


def test_hand_written_cases_like_conlleval():
    assert chunks(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 2), ("LOC", 3, 4)]
    assert chunks(["O", "I-PER", "I-PER"]) == [("PER", 1, 3)]  # I- after O starts a chunk
    assert chunks(["B-PER", "I-LOC"]) == [("PER", 0, 1), ("LOC", 1, 2)]  # type change splits
    assert chunks(["B-PER", "B-PER"]) == [("PER", 0, 1), ("PER", 1, 2)]
    assert chunks(["I-ORG", "B-ORG", "I-ORG"]) == [("ORG", 0, 1), ("ORG", 1, 3)]
    assert chunks([]) == []


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


def test_allowed_transitions_follow_each_scheme():
    from nlp_tasks.text.chunking import allowed_transitions

    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    start, end = len(labels), len(labels) + 1
    m = allowed_transitions(labels, "iob2")
    assert len(m) == len(m[0]) == len(labels) + 2
    ix = labels.index
    assert m[start][ix("B-PER")] and m[start][ix("O")] and not m[start][ix("I-PER")]
    assert m[ix("B-PER")][ix("I-PER")] and m[ix("I-PER")][ix("I-PER")]
    assert not m[ix("O")][ix("I-PER")] and not m[ix("B-LOC")][ix("I-PER")] and not m[ix("I-LOC")][ix("I-PER")]
    assert all(m[i][end] for i in range(len(labels))) and not any(m[end]) and not any(r[start] for r in m)
    assert all(m[i][j] for i in range(len(labels)) for j in range(len(labels)) if not labels[j].startswith("I-"))
    iob1 = allowed_transitions(["O", "I-PER", "B-PER"], "iob1")
    assert all(iob1[i][j] for i in range(4) for j in range(3)) and all(iob1[i][4] for i in range(3))
    bioes = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]
    b = allowed_transitions(bioes, "bioes")
    s, e = 5, 6
    assert [bioes[j] for j in range(5) if b[s][j]] == ["O", "B-PER", "S-PER"]
    assert [bioes[j] for j in range(5) if b[1][j]] == ["I-PER", "E-PER"]
    assert [bioes[j] for j in range(5) if b[3][j]] == ["O", "B-PER", "S-PER"]
    assert [bioes[i] for i in range(5) if b[i][e]] == ["O", "E-PER", "S-PER"]
    with pytest.raises(UserError, match="not valid in the IOB2"):
        allowed_transitions(["O", "S-PER"], "iob2")
