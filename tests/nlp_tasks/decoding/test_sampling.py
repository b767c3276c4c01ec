"""Temperature, top-k, top-p and beam search: the distributions and choices are the defined ones."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nlp_tasks.decoding.sampling import (
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    beam_search,
    check_options,
    check_temperature,
    distribution,
    graph_sample,
    log_softmax,
    sample,
)
from nlp_tasks.errors import UserError

LOGITS = np.log(np.array([[0.5, 0.25, 0.15, 0.10]]))


def test_temperature_one_is_the_softmax_and_zero_is_greedy():
    np.testing.assert_allclose(distribution(LOGITS), [[0.5, 0.25, 0.15, 0.10]])
    np.testing.assert_allclose(distribution(LOGITS, temperature=0), [[1, 0, 0, 0]])
    sharp = distribution(LOGITS, temperature=0.5)[0]  # p^2, renormalised
    np.testing.assert_allclose(sharp, np.array([0.25, 0.0625, 0.0225, 0.01]) / 0.345)


def test_top_k_and_top_p_keep_the_defined_sets():
    np.testing.assert_allclose(distribution(LOGITS, top_k=2), [[2 / 3, 1 / 3, 0, 0]])
    # Nucleus p=0.7: 0.5 < 0.7, 0.5+0.25 >= 0.7 -> the two most likely tokens.
    np.testing.assert_allclose(distribution(LOGITS, top_p=0.7), [[2 / 3, 1 / 3, 0, 0]])
    np.testing.assert_allclose(distribution(LOGITS, top_p=0.75), [[2 / 3, 1 / 3, 0, 0]])
    np.testing.assert_allclose(distribution(LOGITS, top_p=0.76), [[0.5, 0.25, 0.15, 0] / np.float64(0.9)])
    np.testing.assert_allclose(distribution(LOGITS, top_p=0.1), [[1, 0, 0, 0]])  # the top token always stays
    np.testing.assert_allclose(distribution(LOGITS, top_p=1.0), [[0.5, 0.25, 0.15, 0.10]])


def test_banned_tokens_are_never_drawn_and_the_rest_renormalised():
    probs = distribution(LOGITS, banned=[0])
    np.testing.assert_allclose(probs, [[0, 0.5, 0.3, 0.2]])
    with pytest.raises(UserError, match="every token is banned"):
        distribution(LOGITS, banned=[0, 1, 2, 3])


def test_sampling_follows_the_distribution_and_the_seed():
    logits = np.repeat(LOGITS, 40000, axis=0)
    ids = sample(logits, np.random.default_rng(0))
    freq = np.bincount(ids, minlength=4) / len(ids)
    np.testing.assert_allclose(freq, [0.5, 0.25, 0.15, 0.10], atol=0.01)
    again = sample(logits[:50], np.random.default_rng(7))
    np.testing.assert_array_equal(again, sample(logits[:50], np.random.default_rng(7)))


@pytest.mark.parametrize("kwargs", [dict(temperature=-1), dict(temperature=float("nan")), dict(top_k=0),
                                    dict(top_p=0), dict(top_p=1.5), dict(beam=0)])
def test_meaningless_options_are_refused(kwargs):
    with pytest.raises(UserError):
        check_options(**kwargs)


def test_beam_search_finds_the_better_path_that_greedy_misses():
    # A 2-step toy model over 3 tokens: from the start, token 1 looks best (0.6 vs 0.4) but is
    # followed by a flat distribution; token 2 is followed by a near-certain token.
    table = {
        0: np.log([0.0001, 0.6, 0.3999]),
        1: np.log([1 / 3, 1 / 3, 1 / 3]),
        2: np.log([0.98, 0.01, 0.01]),
    }

    def step(ids, states):
        return np.stack([log_softmax(table[int(i)]) for i in ids]), states

    ids, score = beam_search(step, states=np.zeros((1, 1)), start=0, beam=2, length=2, vocab_size=3,
                             reorder=lambda s, idx: s[idx])
    assert ids == [2, 0]
    assert score == pytest.approx(np.log(0.3999 * 0.98))
    greedy, _ = beam_search(step, states=np.zeros((1, 1)), start=0, beam=1, length=2, vocab_size=3,
                            reorder=lambda s, idx: s[idx])
    assert greedy[0] == 1


def test_beam_search_stops_at_eos():
    def step(ids, states):
        return np.log(np.tile([[0.1, 0.2, 0.7]], (len(ids), 1))), states  # eos (2) is most likely

    ids, score = beam_search(step, None, start=0, beam=3, length=10, vocab_size=3,
                             reorder=lambda s, idx: s, eos_id=2)
    assert ids == [2] and score == pytest.approx(np.log(0.7))


@pytest.mark.parametrize("value", [-1, 1e-4, 1001, 1e308, 1e-308, float("nan"), float("inf"), "1", True, None])
def test_temperatures_outside_the_declared_range_are_refused(value):
    with pytest.raises(UserError, match=r"temperature must be 0 \(greedy\) or from 0.001 to 1000"):
        check_temperature(value)


def test_temperatures_inside_the_range_are_accepted():
    assert [check_temperature(t) for t in (0, MIN_TEMPERATURE, 1, MAX_TEMPERATURE, np.float32(0.5))] == \
        [0.0, MIN_TEMPERATURE, 1.0, MAX_TEMPERATURE, 0.5]


# Scores a model that overflowed could give: infinities, NaN, the largest floats; ids 0 and 1 banned.
WILD = np.array([[np.inf, np.nan, 1.0, -1.0, 3.0],
                 [np.nan, 5.0, np.nan, np.inf, -np.inf],
                 [1e308, -1e308, -1e308, 1e308, 0.0],
                 [np.nan, np.nan, np.nan, np.nan, np.nan]])


@pytest.mark.parametrize("temperature", [0, MIN_TEMPERATURE, 1.0, MAX_TEMPERATURE])
def test_banned_tokens_are_never_drawn_whatever_the_scores_and_temperature(temperature):
    """Masked after dividing by T and with non-finite scores clipped first: no NaN reaches the
    draw, which would fall on id 0 (``<pad>``)."""
    probs = distribution(WILD, temperature, banned=[0, 1])
    assert np.isfinite(probs).all() and np.allclose(probs.sum(axis=-1), 1)
    assert (probs[:, :2] == 0).all()
    u = np.linspace(0, 1, 101, endpoint=False)
    logits = np.repeat(WILD, len(u), axis=0)
    for top_k, top_p in ((None, None), (2, None), (None, 0.5)):
        ids = graph_sample(tf.constant(logits), tf.constant(np.tile(u, len(WILD))), temperature, top_k, top_p,
                           banned=(0, 1)).numpy()
        assert ids.min() >= 2, (top_k, top_p)
    assert (sample(logits, np.random.default_rng(0), temperature, banned=[0, 1]) >= 2).all()
