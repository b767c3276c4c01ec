"""The CRF layer against brute-force enumeration of every tag path."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_tasks.layers import CRF, crf_loss

K, T, B = 3, 4, 3
LENGTHS = [4, 2, 1]


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    crf = CRF(K, dtype="float64")
    crf.build((None, None, K))
    crf.set_weights([rng.normal(size=w.shape) for w in crf.get_weights()])
    emissions = rng.normal(size=(B, T, K))
    mask = np.array([[t < n for t in range(T)] for n in LENGTHS])
    return crf, emissions, mask


def brute_force(crf, emissions, length):
    trans, start, end = (w.numpy() for w in (crf.transitions, crf.start_scores, crf.end_scores))
    scores = {}
    for path in itertools.product(range(K), repeat=length):
        s = start[path[0]] + end[path[-1]] + sum(emissions[t, path[t]] for t in range(length))
        s += sum(trans[path[t - 1], path[t]] for t in range(1, length))
        scores[path] = s
    return scores


def test_log_partition_path_score_and_nll(setup):
    crf, emissions, mask = setup
    log_z = crf.log_partition(tf.constant(emissions), mask).numpy()
    tags = np.array([[0, 2, 1, 1], [2, 2, 0, 0], [1, 0, 0, 0]])
    nll = crf.negative_log_likelihood(tf.constant(emissions), tags, mask).numpy()
    for b, n in enumerate(LENGTHS):
        scores = brute_force(crf, emissions[b], n)
        want_z = np.log(np.sum(np.exp(list(scores.values()))))
        assert log_z[b] == pytest.approx(want_z, abs=1e-9)
        assert nll[b] == pytest.approx(want_z - scores[tuple(tags[b, :n])], abs=1e-9)


def test_viterbi_finds_the_best_path(setup):
    crf, emissions, mask = setup
    paths, best = crf.decode(tf.constant(emissions), mask)
    for b, n in enumerate(LENGTHS):
        scores = brute_force(crf, emissions[b], n)
        want = max(scores, key=scores.get)
        assert tuple(paths.numpy()[b, :n]) == want
        assert best.numpy()[b] == pytest.approx(scores[want])
        assert not paths.numpy()[b, n:].any()


def test_marginals_sum_over_paths(setup):
    crf, emissions, mask = setup
    probs = crf.marginals(tf.constant(emissions), mask).numpy()
    for b, n in enumerate(LENGTHS):
        scores = brute_force(crf, emissions[b], n)
        z = np.sum(np.exp(list(scores.values())))
        for t in range(n):
            for k in range(K):
                want = sum(np.exp(s) for p, s in scores.items() if p[t] == k) / z
                assert probs[b, t, k] == pytest.approx(want, abs=1e-9)
        assert np.allclose(probs[b, n:], 0)


def test_single_step_batches_in_a_graph(setup):
    """A batch of one-token sentences inside tf.function (unknown shapes) once crashed tf.scan."""
    crf, emissions, _ = setup
    spec = tf.TensorSpec((None, None, K), tf.float64)
    decode = tf.function(lambda e: crf.decode(e)[0], input_signature=[spec])
    nll = tf.function(lambda e: crf.negative_log_likelihood(e, tf.zeros(tf.shape(e)[:2], tf.int32)),
                      input_signature=[spec])
    marginals = tf.function(lambda e: crf.marginals(e), input_signature=[spec])
    one = tf.constant(emissions[:, :1])
    assert decode(one).shape == (B, 1)
    np.testing.assert_array_equal(decode(one).numpy()[:, 0], np.argmax(
        emissions[:, 0] + crf.start_scores.numpy() + crf.end_scores.numpy(), axis=1))
    assert np.all(np.isfinite(nll(one).numpy()))
    np.testing.assert_allclose(marginals(one).numpy().sum(-1), 1.0)


def test_crf_model_learns_a_transition_rule_and_saves(tmp_path):
    """Tag 1 must follow tag 0 whatever the input: only the transitions can learn that."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6, 4)).astype("float32")
    y = np.zeros((64, 6), dtype="int32")
    y[:, 0] = (x[:, 0, 0] > 0).astype(int) * 2
    for t in range(1, 6):
        y[:, t] = np.where(y[:, t - 1] == 0, 1, (x[:, t, 0] > 0) * 2)
    y[::4, 4:] = -1  # some padded sequences
    inputs = keras.Input((None, 4))
    masked = keras.layers.Masking(mask_value=0.0)(inputs)
    crf = CRF(3)
    outputs = crf(keras.layers.Dense(3)(masked))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=crf_loss(crf))
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.3 * history.history["loss"][0]
    paths, _ = crf.decode(model(x[:8]))
    assert (paths.numpy()[:, :4] == y[:8, :4]).mean() > 0.9
    path = tmp_path / "crf.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_array_equal(loaded(x[:4]).numpy(), model(x[:4]).numpy())
    assert loaded.layers[-1].get_config()["n_tags"] == 3


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_tags must be an integer >= 2"):
        CRF(1)
    with pytest.raises(ValueError, match="expected 5"):
        CRF(5).build((None, None, 3))


ALLOWED = np.ones((K + 2, K + 2), int)
ALLOWED[0, 1] = ALLOWED[2, 2] = 0  # tag 0 -> 1 and 2 -> 2 forbidden
ALLOWED[K, 1] = 0  # no path starts with tag 1
ALLOWED[0, K + 1] = 0  # no path ends with tag 0
ALLOWED[K + 1, :] = ALLOWED[:, K] = 0  # nothing after the end, nothing into the start


def permitted(path) -> bool:
    return (ALLOWED[K, path[0]] and ALLOWED[path[-1], K + 1]
            and all(ALLOWED[a, b] for a, b in zip(path, path[1:])))


def test_constrained_viterbi_and_marginals_keep_to_the_allowed_paths(setup):
    """``allowed`` (AllenNLP's layout): Viterbi finds the best permitted path and the marginals
    sum over permitted paths only, by brute force."""
    crf, emissions, mask = setup
    paths, best = crf.decode(tf.constant(emissions), mask, ALLOWED)
    probs = crf.marginals(tf.constant(emissions), mask, ALLOWED).numpy()
    for b, n in enumerate(LENGTHS):
        scores = {p: s for p, s in brute_force(crf, emissions[b], n).items() if permitted(p)}
        want = max(scores, key=scores.get)
        assert tuple(paths.numpy()[b, :n]) == want
        assert best.numpy()[b] == pytest.approx(scores[want])
        z = np.sum(np.exp(list(scores.values())))
        for t in range(n):
            for k in range(K):
                expected = sum(np.exp(s) for p, s in scores.items() if p[t] == k) / z
                assert probs[b, t, k] == pytest.approx(expected, abs=1e-9)
    with pytest.raises(Exception, match="allowed must be"):
        crf.decode(tf.constant(emissions), mask, np.ones((K, K)))
