"""The metrics package: classification, conlleval chunk scores (checked against seqeval),
language-model conversions and piano-roll scores, each against hand-computed values."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval import metrics as seqeval

from nlp_tasks.errors import UserError
from nlp_tasks.metrics import (
    classification_report,
    confusion_matrix,
    conlleval,
    format_classification_report,
    format_conlleval,
    frame_scores,
    loss_report,
    nats_to_bits,
    perplexity,
    text_score,
)

tag = st.sampled_from(["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "B-MISC"])
sentences = st.lists(st.lists(tag, min_size=1, max_size=12), min_size=1, max_size=6)


def test_the_package_imports_neither_matplotlib_nor_tensorflow():
    code = ("import sys, nlp_tasks.metrics; "
            "print([m for m in ('matplotlib', 'tensorflow', 'keras') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------------- classification
def test_classification_report_by_hand():
    # gold a a b c, predicted a b b b: matrix rows gold, columns predicted.
    report = classification_report([0, 0, 1, 2], [0, 1, 1, 1], ["a", "b", "c"])
    assert report["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    assert report["accuracy"] == 0.5 and report["examples"] == 4
    a, b, c = (report["per_class"][k] for k in "abc")
    assert (a["precision"], a["recall"], a["f1"], a["support"]) == (1.0, 0.5, pytest.approx(2 / 3), 2)
    assert (b["precision"], b["recall"], b["f1"]) == (pytest.approx(1 / 3), 1.0, pytest.approx(0.5))
    assert (c["precision"], c["recall"], c["f1"]) == (0.0, 0.0, 0.0)  # never predicted: 0, not NaN
    assert report["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 0) / 3)
    json.dumps(report)  # plain Python
    text = format_classification_report(report)
    assert "accuracy  0.5000   (4 examples)" in text and "confusion matrix (rows: gold" in text


def test_classification_errors():
    assert confusion_matrix([1], [0], 2).tolist() == [[0, 0], [1, 0]]
    with pytest.raises(UserError, match="2 gold labels but 1 predictions"):
        confusion_matrix([0, 1], [0], 2)
    with pytest.raises(UserError, match="no examples"):
        classification_report([], [], ["a"])


# ---------------------------------------------------------------------- chunks (conlleval)
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
    assert report["precision"] == pytest.approx(seqeval.precision_score(gold, pred, zero_division=0))
    assert report["recall"] == pytest.approx(seqeval.recall_score(gold, pred, zero_division=0))
    assert report["f1"] == pytest.approx(seqeval.f1_score(gold, pred, zero_division=0))
    theirs = seqeval.classification_report(gold, pred, output_dict=True, zero_division=0)
    for kind, row in report["per_type"].items():
        if row["gold"]:
            assert row["f1"] == pytest.approx(theirs[kind]["f1-score"])
            assert row["gold"] == theirs[kind]["support"]


def test_mismatched_lengths():
    with pytest.raises(UserError, match="sentence 1: 2 gold tags but 1 predicted"):
        conlleval([["O", "O"]], [["O"]])


# ---------------------------------------------------------------------- language
def test_nats_bits_and_perplexity_by_hand():
    assert nats_to_bits(math.log(2)) == 1.0  # one bit is ln 2 nats
    assert nats_to_bits(math.log(8)) == 3.0
    assert nats_to_bits(1.0) == pytest.approx(1.4426950408889634)  # 1 / ln 2
    assert perplexity(0.0) == 1.0  # a certain model
    assert perplexity(math.log(4)) == 4.0  # as unsure as a fair choice among 4 tokens
    assert perplexity(1000.0) == math.exp(700)  # capped: e**1000 overflows a float


def test_loss_report_by_hand():
    assert loss_report(math.log(4), "word") == {"nats_per_token": math.log(4), "bits_per_token": 2.0,
                                                "perplexity": 4.0}
    char = loss_report(math.log(2), "char")
    assert char["bits_per_char"] == char["bits_per_token"] == 1.0 and char["perplexity"] == 2.0
    assert char["nats_per_char"] == math.log(2)


@pytest.mark.parametrize("nats", [0.0, 1e-9, 0.6931471805599453, 1.2345678901234567, 3.75, 699.5, 5e3])
def test_loss_report_gives_the_floats_the_language_model_gave_before(nats):
    """Bit-identical to the formulas tasks/charlm.py used before they moved here."""
    before = {"nats_per_token": nats, "bits_per_token": nats / math.log(2), "perplexity": math.exp(min(nats, 700)),
              "nats_per_char": nats, "bits_per_char": nats / math.log(2)}
    assert loss_report(nats, "char") == before


def test_text_score_by_hand():
    # Four tokens, each given probability 1/2: log P = 4 ln(1/2) nats = -4 bits; 2 choices per token.
    score = text_score(4 * math.log(0.5), 4)
    assert score["tokens"] == 4
    assert score["log2_prob"] == pytest.approx(-4.0)
    assert score["nats_per_token"] == pytest.approx(math.log(2))
    assert score["perplexity"] == pytest.approx(2.0)
    total = -7.25  # the arithmetic the language model's score() did before it moved here
    assert text_score(total, 3) == {"log_prob": total, "log2_prob": total / math.log(2), "tokens": 3,
                                    "nats_per_token": -total / 3, "perplexity": math.exp(-total / 3)}


# ---------------------------------------------------------------------- piano roll
GOLD = np.array([[1, 0, 0, 1],   # 3 time steps, 4 keys
                 [1, 1, 0, 0],
                 [0, 0, 0, 0]], dtype=float)
PREDICTED = np.array([[1, 0, 0, 0],   # step 1: TP 1, FN 1
                      [1, 0, 1, 0],   # step 2: TP 1, FP 1, FN 1
                      [0, 0, 0, 1]], dtype=float)  # step 3: FP 1


def test_frame_scores_on_a_hand_worked_roll():
    tp = float((GOLD * PREDICTED).sum())
    fp = float(((1 - GOLD) * PREDICTED).sum())
    fn = float((GOLD * (1 - PREDICTED)).sum())
    assert (tp, fp, fn) == (2, 2, 2)  # as counted in the comments above
    # The model gave each predicted key p = 0.8, every other key p = 0.2: the 8 cells it got
    # right (TP + TN) cost -ln 0.8 nats each, the 4 it got wrong (FP + FN) -ln 0.2.
    nll = -(8 * math.log(0.8) + 4 * math.log(0.2))
    report = frame_scores(nll, 3, tp, fp, fn)
    assert report["steps"] == 3
    assert report["nll_per_step"] == pytest.approx(nll / 3)
    assert report["nll_per_step"] == pytest.approx(2.74097, abs=1e-5)  # (8 x 0.22314 + 4 x 1.60944) / 3
    assert report["frame_accuracy"] == pytest.approx(1 / 3)  # 2 / (2 + 2 + 2)
    assert report["precision"] == 0.5 and report["recall"] == 0.5 and report["f1"] == 0.5


def test_frame_scores_of_silence_and_plain_types():
    report = frame_scores(np.float64(1.5), np.float64(2), np.float64(0), np.float64(0), np.float64(0))
    assert report == {"nll_per_step": 0.75, "steps": 2, "frame_accuracy": 0.0, "precision": 0.0,
                      "recall": 0.0, "f1": 0.0}
    assert all(type(v) in (float, int) for v in report.values())  # NumPy scalars become Python's
    with pytest.raises(UserError, match="no time steps"):
        frame_scores(0.0, 0, 0, 0, 0)
