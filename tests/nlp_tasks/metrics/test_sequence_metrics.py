"""Sequence metrics (WER, PER, oracle WER) on hand-made cases, and the edit distance against a
plain recursive definition."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp_tasks.errors import UserError
from nlp_tasks.metrics import (
    closest_reference,
    edit_distance,
    oracle_wer,
    phoneme_error_rate,
    sequence_report,
    word_error_rate,
)

CAT = ("K", "AE1", "T")


def unstressed(phonemes):
    return tuple(p.rstrip("012") for p in phonemes)


@pytest.mark.parametrize("a, b, distance", [
    ((), (), 0), (CAT, CAT, 0), ((), CAT, 3), (CAT, (), 3),
    (CAT, ("K", "AH0", "T"), 1),  # one substitution
    (CAT, ("K", "AE1", "T", "S"), 1),  # one insertion
    (CAT, ("K", "T"), 1),  # one deletion
    ("kitten", "sitting", 3), ("flaw", "lawn", 2), (["a", "b"], ("a", "b"), 0),
])
def test_edit_distance(a, b, distance):
    assert edit_distance(a, b) == distance == edit_distance(b, a)


@settings(max_examples=200, deadline=None)
@given(st.text("abc", max_size=7), st.text("abc", max_size=7))
def test_edit_distance_is_the_recursive_definition(a, b):
    @functools.cache
    def d(i, j):
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

    assert edit_distance(a, b) == d(len(a), len(b))


def test_identical_output_scores_zero():
    refs = [[CAT], [("D", "AO1", "G"), ("D", "AA1", "G")]]
    assert word_error_rate([CAT, ("D", "AA1", "G")], refs) == 0.0
    assert phoneme_error_rate([list(CAT), ("D", "AO1", "G")], refs) == 0.0  # a list is the same output


def test_one_substitution_insertion_and_deletion():
    refs = [[CAT]] * 3
    predictions = [("K", "AH0", "T"), ("K", "AE1", "T", "S"), ("K", "T")]
    assert word_error_rate(predictions, refs) == 1.0
    assert phoneme_error_rate(predictions, refs) == 3 / 9
    assert word_error_rate([CAT, ("K", "T")], [[CAT], [CAT]]) == 0.5


def test_the_closest_of_several_references_counts():
    refs = [("R", "EH1", "D"), ("R", "IY1", "D")]
    assert word_error_rate([("R", "IY1", "D")], [refs]) == 0.0  # the second reference matches
    assert closest_reference(("R", "IY1", "T"), refs) == (1, ("R", "IY1", "D"))  # the second is closer
    assert phoneme_error_rate([("R", "IY1", "T")], [refs]) == 1 / 3
    # a tie on distance goes to the shorter reference, so the denominator is its length
    assert closest_reference(("A", "B"), [("A", "B", "C"), ("A",)]) == (1, ("A",))
    assert phoneme_error_rate([("A", "B")], [[("A", "B", "C"), ("A",)]]) == 1.0


def test_an_empty_prediction_costs_the_reference_length():
    refs = [[CAT], [("D", "AO1", "G", "Z"), ("D", "AO1")]]
    assert word_error_rate([(), ()], refs) == 1.0
    assert phoneme_error_rate([(), ()], refs) == (3 + 2) / (3 + 2)  # the shorter reference is the closer
    assert phoneme_error_rate([CAT + CAT], [[CAT]]) == 1.0  # longer than the reference


def test_nbest_oracle():
    refs = [[CAT], [("D", "AO1", "G")], [("E", "M", "UW")]]
    nbest = [[("K", "AH0", "T"), CAT], [("D", "AO1", "G")], [("E", "M"), ("M", "UW")]]
    assert oracle_wer(nbest, refs) == 1 / 3
    assert oracle_wer(nbest, refs, n=1) == 2 / 3 == word_error_rate([outputs[0] for outputs in nbest], refs)
    assert oracle_wer([[], [("D", "AO1", "G")], [("E", "M", "UW")]], refs) == 1 / 3  # an empty list: an error
    with pytest.raises(UserError, match="n must be at least 1"):
        oracle_wer(nbest, refs, n=0)


def test_the_report_with_and_without_stress():
    refs = [[CAT], [("D", "AO1", "G")], [("R", "EH1", "D"), ("R", "IY1", "D")]]
    predictions = [("K", "AE0", "T"), ("D", "AO1", "G"), ("R", "IY2", "D", "Z")]
    report = sequence_report(predictions, refs, strip=unstressed, nbest=[[p, CAT] for p in predictions])
    assert report == {"examples": 3, "word_errors": 2, "wer": 2 / 3, "symbol_errors": 3, "reference_symbols": 9,
                      "per": 3 / 9, "wer_no_stress": 1 / 3, "per_no_stress": 1 / 9, "oracle_wer": 1 / 3, "nbest": 2}
    assert set(sequence_report(predictions, refs)) == {"examples", "word_errors", "wer", "symbol_errors",
                                                       "reference_symbols", "per"}


def test_characters_work_as_symbols():
    assert sequence_report(["kolja"], [["kolya", "kolja"]])["wer"] == 0.0
    assert phoneme_error_rate(["kolia"], [["kolya", "kolja"]]) == 1 / 5


@pytest.mark.parametrize("predictions, references, message", [
    ([CAT], [[CAT], [CAT]], "^1 predictions but 2 reference lists$"),
    ([], [], "^no examples to evaluate$"),
    ([CAT], [[]], "^example 1: no reference to compare with$"),
])
def test_mismatched_input_is_a_one_line_error(predictions, references, message):
    with pytest.raises(UserError, match=message):
        word_error_rate(predictions, references)
    with pytest.raises(UserError, match="the symbol error rate is undefined"):
        phoneme_error_rate([()], [[()]])
