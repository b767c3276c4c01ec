"""Greedy and beam search in one graph: exact against exhaustive search on a tiny vocabulary,
n-best order and probabilities, beam 1 = greedy, batch-position invariance, eos and the cap,
banned ids, NaN scores, bad arguments."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from nlp_tasks.decoding.sampling import log_softmax
from nlp_tasks.decoding.search import Hypothesis, Searcher, beam_decode, check_search, hypotheses
from nlp_tasks.errors import UserError

V, PAD, BOS, EOS = 6, 0, 1, 2
BANNED = (PAD, BOS)
REGULAR = (3, 4, 5)
RNG = np.random.default_rng(0)
TABLE = RNG.normal(0, 1.5, (V, V))  # log p(next | current input), up to the terms below
BEFORE = RNG.normal(0, 1.0, (V, V))  # ... and the input before it (a state the search must gather right)
DRIFT = RNG.normal(0, 0.5, (V, V))  # ... times the step count (a state that counts)


class Toy:
    """A fixed random Markov model of order 2 (float64, so that the oracle agrees to 1e-9) whose
    next-token logits also depend on the step count and on each source's context:
    ``vector (V,)`` and ``memory (2, V)`` (its mean is added)."""

    def __init__(self, table=TABLE, nan_after=None, nan_token=None):
        self.table, self.nan_after, self.nan_token = np.array(table), nan_after, nan_token

    def logits(self, token, before, count, vector, memory):
        """NumPy, one row: the oracle."""
        row = self.table[token] + BEFORE[before] + count * DRIFT[token] + vector + memory.mean(axis=0)
        if token == self.nan_after:
            row = np.full(V, np.nan)
        if self.nan_token is not None:
            row = row.copy()
            row[self.nan_token] = np.nan
        return row

    def step(self, tokens, states, context):
        """The same in TensorFlow: ``states = {"before": (n,), "count": (n, 1)}``, ``context =
        (vector (n, V), memory (n, 2, V))``."""
        vector, memory = context
        table, before, drift = (tf.constant(x, tf.float64) for x in (self.table, BEFORE, DRIFT))
        row = (tf.gather(table, tokens) + tf.gather(before, states["before"])
               + states["count"] * tf.gather(drift, tokens) + vector + tf.reduce_mean(memory, axis=1))
        if self.nan_after is not None:
            row = tf.where((tokens == self.nan_after)[:, None], tf.constant(np.nan, tf.float64), row)
        if self.nan_token is not None:
            row = tf.where(tf.range(V)[None, :] == self.nan_token, tf.constant(np.nan, tf.float64), row)
        return row, {"before": tokens, "count": states["count"] + 1}

    def log_prob(self, ids, finished, vector, memory):
        """log P(ids [+ eos]) recomputed token by token in NumPy (float64)."""
        inputs, outputs = [BOS] + list(ids), list(ids) + ([EOS] if finished else [])
        total, before = 0.0, BOS
        with np.errstate(all="ignore"):  # a row that is all -inf
            for count, (token, nxt) in enumerate(zip(inputs, outputs)):
                row = self.logits(token, before, count, vector, memory)
                row = log_softmax(np.where(np.isnan(row), -np.inf, row))
                row[list(BANNED)] = -np.inf
                total += -np.inf if np.isnan(row[nxt]) else row[nxt]
                before = token
        return total


def contexts(n, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (n, V)), rng.normal(0, 1, (n, 2, V))


def start_states(n):
    return {"before": tf.fill([n], BOS), "count": tf.zeros([n, 1], tf.float64)}


def exhaustive(toy, vector, memory, max_length, alpha):
    """Every output up to ``max_length`` (ending in eos, or cut at the cap), best first."""
    found = []
    for k in range(max_length + 1):
        for ids in itertools.product(REGULAR, repeat=k):
            finished = k < max_length
            lp = toy.log_prob(ids, finished, vector, memory)
            if lp > -np.inf:
                found.append(Hypothesis(list(ids), lp, lp / (k + finished) ** alpha, finished))
    return sorted(found, key=lambda h: -h.score)


def decode(toy, vector, memory, max_length=4, beam=200, nbest=1, alpha=0.7, jit_compile=False):
    searcher = Searcher(toy.step, BOS, EOS, banned_ids=BANNED, jit_compile=jit_compile)
    return searcher.beam(start_states(len(vector)), (vector, memory), max_length, beam, nbest, alpha)


@pytest.mark.parametrize("alpha", [0.0, 0.7, 1.0])
def test_a_wide_beam_finds_the_exhaustive_n_best_in_order(alpha):
    toy, (vector, memory) = Toy(), contexts(3)
    found = decode(toy, vector, memory, nbest=10, alpha=alpha)
    for b in range(3):
        truth = exhaustive(toy, vector[b], memory[b], 4, alpha)
        assert [h.ids for h in found[b]] == [h.ids for h in truth[:10]]
        assert [h.finished for h in found[b]] == [h.finished for h in truth[:10]]
        np.testing.assert_allclose([h.log_prob for h in found[b]], [h.log_prob for h in truth[:10]], rtol=1e-9)
        scores = [h.score for h in found[b]]
        assert scores == sorted(scores, reverse=True)
        for h in found[b]:  # the reported numbers are the model's own, recomputed independently
            assert h.log_prob == pytest.approx(toy.log_prob(h.ids, h.finished, vector[b], memory[b]), rel=1e-9)
            assert h.score == pytest.approx(h.log_prob / (len(h.ids) + h.finished) ** alpha, rel=1e-12)
    assert len({tuple(h.ids) for h in found[0]}) == 10  # no hypothesis twice


def test_length_normalisation_changes_the_winner_toward_longer_outputs():
    toy, (vector, memory) = Toy(), contexts(8, seed=5)
    plain, normalised = decode(toy, vector, memory, alpha=0.0), decode(toy, vector, memory, alpha=1.0)
    lengths = [(len(p[0].ids), len(q[0].ids)) for p, q in zip(plain, normalised)]
    assert all(a <= b for a, b in lengths) and any(a < b for a, b in lengths)


def test_beam_one_is_greedy_and_a_wider_beam_never_scores_lower():
    toy, (vector, memory) = Toy(), contexts(6, seed=2)
    searcher = Searcher(toy.step, BOS, EOS, banned_ids=BANNED)
    greedy = searcher.greedy(start_states(6), (vector, memory), 8, length_penalty=0.0)
    one = searcher.beam(start_states(6), (vector, memory), 8, 1, length_penalty=0.0)
    three = searcher.beam(start_states(6), (vector, memory), 8, 3, length_penalty=0.0)
    for b in range(6):
        assert greedy[b].ids == one[b][0].ids and greedy[b].finished == one[b][0].finished
        assert greedy[b].log_prob == pytest.approx(one[b][0].log_prob, rel=1e-12)
        assert three[b][0].score >= one[b][0].score - 1e-12
        assert greedy[b].log_prob == pytest.approx(toy.log_prob(greedy[b].ids, greedy[b].finished, vector[b],
                                                                memory[b]), rel=1e-9)
    assert any(three[b][0].ids != one[b][0].ids for b in range(6))  # the toy has a path greedy misses


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_a_source_decodes_the_same_alone_or_anywhere_in_a_batch(method):
    toy = Toy()
    searcher = Searcher(toy.step, BOS, EOS, banned_ids=BANNED)
    (vector, memory), (others_v, others_m) = contexts(1, seed=3), contexts(5, seed=4)
    run = {"greedy": lambda v, m: [[h] for h in searcher.greedy(start_states(len(v)), (v, m), 6)],
           "beam": lambda v, m: searcher.beam(start_states(len(v)), (v, m), 6, 4, nbest=4)}[method]
    alone = run(vector, memory)[0]
    for position in (0, 3):
        v, m = np.insert(others_v, position, vector[0], 0), np.insert(others_m, position, memory[0], 0)
        inside = run(v, m)[position]
        assert [h.ids for h in inside] == [h.ids for h in alone]
        np.testing.assert_allclose([h.log_prob for h in inside], [h.log_prob for h in alone], atol=1e-6)
        np.testing.assert_allclose([h.score for h in inside], [h.score for h in alone], atol=1e-6)


def test_the_search_stops_when_every_hypothesis_has_ended_and_at_the_cap():
    table = np.zeros((V, V))
    table[:, EOS] = 30.0  # eos all but certain
    calls = tf.Variable(0)

    def counting(tokens, states, context):
        calls.assign_add(1)
        return Toy(table).step(tokens, states, context)

    vector, memory = contexts(2)
    vector, memory = vector * 0, memory * 0
    found = Searcher(counting, BOS, EOS, banned_ids=BANNED).beam(start_states(2), (vector, memory), 50, 3, nbest=3)
    assert int(calls.numpy()) == 2  # step 1: eos first; step 2: the two runners-up end too
    assert [h.ids for h in found[0]][0] == [] and all(h.finished for h in found[0])
    table[:, EOS] = -1e4  # eos all but impossible: every hypothesis runs to the cap
    found = Searcher(Toy(table).step, BOS, EOS, banned_ids=BANNED).beam(start_states(2), (vector, memory), 5, 3, 3)
    assert all(len(h.ids) == 5 and not h.finished for hs in found for h in hs)


def test_banned_ids_are_never_produced_even_when_most_likely():
    table = TABLE.copy()
    table[:, [PAD, BOS, 4]] += 20.0
    toy, (vector, memory) = Toy(table), contexts(4)
    searcher = Searcher(toy.step, BOS, EOS, banned_ids=(PAD, BOS, 4))
    found = searcher.beam(start_states(4), (vector, memory), 6, 5, nbest=5)
    greedy = searcher.greedy(start_states(4), (vector, memory), 6)
    produced = {i for hs in found for h in hs for i in h.ids} | {i for h in greedy for i in h.ids}
    assert produced and not produced & {PAD, BOS, 4}


def test_nan_scores_never_win():
    vector, memory = contexts(3, seed=6)
    best = [exhaustive(Toy(), vector[b], memory[b], 3, 0.7)[0].ids for b in range(3)]
    favourite = max(REGULAR, key=lambda t: sum(t in ids for ids in best))
    for toy in (Toy(nan_after=favourite), Toy(nan_token=favourite)):  # a whole row NaN; one token NaN
        found = decode(toy, vector, memory, max_length=3, nbest=5)
        for b in range(3):
            truth = exhaustive(toy, vector[b], memory[b], 3, 0.7)[:5]
            assert [h.ids for h in found[b]] == [h.ids for h in truth]
            assert all(np.isfinite(h.log_prob) for h in found[b])
        assert any(exhaustive(toy, vector[b], memory[b], 3, 0.7)[0].ids != best[b] for b in range(3))  # it mattered
    row_nan = decode(Toy(nan_after=favourite), vector, memory, max_length=3, nbest=5)
    assert all(favourite not in h.ids[:-1] for hs in row_nan for h in hs)  # nothing follows a NaN row


def test_every_continuation_impossible_leaves_no_hypothesis():
    toy, (vector, memory) = Toy(nan_after=BOS), contexts(2)
    searcher = Searcher(toy.step, BOS, EOS, banned_ids=BANNED)
    assert searcher.beam(start_states(2), (vector, memory), 4, 3, nbest=3) == [[], []]
    assert searcher.greedy(start_states(2), (vector, memory), 4) == [None, None]


def test_xla_gives_the_same_hypotheses():
    toy, (vector, memory) = Toy(), contexts(3)
    plain = decode(toy, vector, memory, max_length=4, beam=7, nbest=7)
    compiled = decode(toy, vector, memory, max_length=4, beam=7, nbest=7, jit_compile=True)
    assert [[h.ids for h in hs] for hs in compiled] == [[h.ids for h in hs] for hs in plain]
    np.testing.assert_allclose([[h.log_prob for h in hs] for hs in compiled],
                               [[h.log_prob for h in hs] for hs in plain], rtol=1e-9)


def test_the_graph_function_runs_inside_a_callers_tf_function_with_log_probs():
    toy, (vector, memory) = Toy(), contexts(2)

    def log_prob_step(tokens, states, context):
        logits, states = toy.step(tokens, states, context)
        return tf.nn.log_softmax(logits), states

    @tf.function
    def run(vector, memory):
        return beam_decode(log_prob_step, start_states(2), (vector, memory), BOS, EOS, 200, 4, 3,
                           step_returns="log_probs", banned_ids=BANNED)

    inside, outside = hypotheses(run(vector, memory)), decode(toy, vector, memory, nbest=3)
    assert [[h.ids for h in hs] for hs in inside] == [[h.ids for h in hs] for hs in outside]
    np.testing.assert_allclose([[h.score for h in hs] for hs in inside], [[h.score for h in hs] for hs in outside])


@pytest.mark.parametrize("kwargs, message", [
    (dict(beam=0), "beam width must be a positive integer"), (dict(beam=1001), "beam width must be <= 1,000"),
    (dict(beam="2"), "beam width"), (dict(beam=3, nbest=0), "nbest must be an integer from 1 to 3"),
    (dict(beam=3, nbest=4), "nbest must be"), (dict(max_length=0), "max_length must be"),
    (dict(max_length=2.5), "max_length must be"), (dict(max_length=10**7), "max_length must be"),
    (dict(length_penalty=-1), "length_penalty"), (dict(length_penalty=float("nan")), "length_penalty"),
    (dict(length_penalty=11), "length_penalty"),
    (dict(beam=1000, max_length=100_000, sources=1), "more than the limit"),
])
def test_bad_search_arguments_are_one_line_errors(kwargs, message):
    kwargs = dict(dict(max_length=4, beam=2, nbest=1), **kwargs)
    with pytest.raises(UserError, match=message) as error:
        check_search(**kwargs)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("kwargs, message", [
    (dict(step_returns="probs"), "step_returns must be one of logits, log_probs"),
    (dict(banned_ids=(EOS,)), "eos_id 2 is banned"), (dict(eos_id=-1), "eos_id must be"),
    (dict(eos_id=V), "eos_id 6 is outside the step's vocabulary of 6"),
    (dict(banned_ids=(99,)), "a banned id 99 is outside"),
])
def test_bad_ids_are_one_line_errors(kwargs, message):
    toy, (vector, memory) = Toy(), contexts(1)
    kwargs = dict(dict(start_id=BOS, eos_id=EOS, banned_ids=BANNED), **kwargs)
    with pytest.raises(UserError, match=message) as error:
        Searcher(toy.step, **kwargs).beam(start_states(1), (vector, memory), 3, 2)
    assert "\n" not in str(error.value)
