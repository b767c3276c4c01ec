"""Generation in one compiled graph: the stream random numbers, the in-graph draw against the
NumPy sampler, and the language model's sampling loop (statistics, seeds, streams, <eos>)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from nlp_tasks.config import SampleSettings
from nlp_tasks.decoding.generator import GraphGenerator, bucket
from nlp_tasks.decoding.sampling import (
    distribution,
    graph_sample,
    inverse_cdf,
    stream_keys,
    stream_uniforms,
    stream_uniforms_numpy,
)
from nlp_tasks.text.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from tasks.charlm import LanguageModelConfig, LanguageModelPipeline
from tasks.charlm.sampling import generate

NAMES = ["allosaurus", "brachiosaurus", "diplodocus", "stegosaurus", "triceratops", "velociraptor", "ankylosaurus",
         "iguanodon", "spinosaurus", "tyrannosaurus", "gallimimus", "oviraptor", "megalosaurus", "compsognathus"]


def chi2_limit(df: int, z: float = 3.09) -> float:
    """The chi-square value exceeded with probability about 0.001 (Wilson-Hilferty)."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def pearson(observed: np.ndarray, expected: np.ndarray) -> tuple[float, int]:
    """Pearson's statistic over the bins expected at least 5 times (the rest pooled in one bin)."""
    big = expected >= 5
    obs = np.append(observed[big], observed[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    if exp[-1] < 5:  # too little left over to be a bin of its own
        obs, exp = obs[:-1], exp[:-1]
    return float(np.sum((obs - exp) ** 2 / exp)), len(obs) - 1


# ---------------------------------------------------------------------- random numbers
def test_stream_uniforms_match_numpy_and_are_uniform():
    keys = stream_keys(7, 64)
    assert keys.dtype == np.uint32 and list(keys[:3]) == [7, 8, 9]
    assert list(stream_keys(2**32 - 1, 2)) == [2**32 - 1, 0]  # wraps around
    graph = tf.function(lambda k, t: stream_uniforms(k, t, 50), jit_compile=True)
    for t in (0, 1, 999_999):
        u = graph(tf.constant(keys), tf.constant(t)).numpy()
        np.testing.assert_array_equal(u, stream_uniforms_numpy(keys, t, 50))
    u = np.concatenate([stream_uniforms_numpy(keys, t, 50).ravel() for t in range(100)])  # 320,000 numbers
    assert 0 <= u.min() and u.max() < 1
    stat, df = pearson(np.histogram(u, bins=100, range=(0, 1))[0], np.full(100, len(u) / 100))
    assert stat < chi2_limit(df)
    # Neighbouring keys, steps and positions are not correlated.
    pairs = [(u.reshape(100, 64, 50)[:, :-1], u.reshape(100, 64, 50)[:, 1:]),  # streams k, k+1
             (u.reshape(100, 64, 50)[:-1], u.reshape(100, 64, 50)[1:]),  # steps t, t+1
             (u.reshape(100, 64, 50)[..., :-1], u.reshape(100, 64, 50)[..., 1:])]  # positions j, j+1
    for a, b in pairs:
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.02


@pytest.mark.parametrize("options", [dict(temperature=1.0), dict(temperature=0.7), dict(temperature=1.5),
                                     dict(temperature=1.0, top_k=3), dict(temperature=0.9, top_p=0.6),
                                     dict(temperature=1.2, top_k=5, top_p=0.8), dict(temperature=0.0),
                                     dict(temperature=1.0, banned=(0, 2))])
def test_graph_sample_draws_what_the_numpy_sampler_draws_from_the_same_uniforms(options):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 12)) * 2
    u = rng.random(500)
    ids = tf.function(lambda x, v: graph_sample(x, v, **options), jit_compile=True)(tf.constant(logits, tf.float32),
                                                                                    tf.constant(u))
    probs = distribution(logits.astype(np.float32), options["temperature"], options.get("top_k"),
                         options.get("top_p"), options.get("banned", ()))
    np.testing.assert_array_equal(ids.numpy(), inverse_cdf(probs, u))
    assert not set(ids.numpy().tolist()) & set(options.get("banned", ()))


def test_buckets_are_powers_of_two():
    assert [bucket(n) for n in (1, 16, 17, 500, 512, 513)] == [16, 16, 32, 512, 512, 1024]


# ---------------------------------------------------------------------- the language model
@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    path = tmp_path_factory.mktemp("names") / "names.txt"
    path.write_text("\n".join(NAMES * 4) + "\n", encoding="utf-8")
    pipe = LanguageModelPipeline(LanguageModelConfig(mode="lines", units=24, layers=2, embedding_dim=8, batch_size=8,
                                                     epochs=3, dropout=0.0, learning_rate=1e-2, patience=None))
    pipe.fit(str(path), verbose=0)
    return pipe


def _step_logits(lm, prime_ids, drawn):
    """The logits of every step of each stream, recomputed by the step-by-step sampler."""
    step = lm.step_function()
    n = drawn.shape[1]
    states = step.zero_state(n)
    for token in [BOS_ID, *prime_ids][:-1]:
        _, states = step(np.full(n, token), states)
    current, out = np.full(n, ([BOS_ID, *prime_ids])[-1]), []
    for row in drawn:
        logits, states = step(current, states)
        out.append(logits)
        current = row
    return np.stack(out)  # (T, n, V)


@pytest.mark.parametrize("options", [dict(temperature=1.0), dict(temperature=0.6), dict(temperature=1.0, top_k=4),
                                     dict(temperature=1.0, top_p=0.7)])
def test_long_samples_follow_the_model_distribution(lm, options):
    """Chi-square: token counts of 8 streams x 600 steps against the sum of each step's
    distribution (the NumPy sampler's, given the same past), and each drawn token is the one the
    NumPy sampler's inverse CDF gives for that step's uniform."""
    seed, n, length = 11, 8, 600
    from tasks.charlm.sampling import graph_generator

    generator = graph_generator(lm, float(options["temperature"]), options.get("top_k"), options.get("top_p"),
                                (PAD_ID, BOS_ID), False)
    keys = stream_keys(seed, n)
    drawn = generator(np.full((1, n), BOS_ID), length, keys)  # (T, n) from <bos>
    assert drawn.shape == (length, n)
    logits = _step_logits(lm, [], drawn)
    probs = distribution(logits.reshape(-1, logits.shape[-1]), options["temperature"], options.get("top_k"),
                         options.get("top_p"), (PAD_ID, BOS_ID)).reshape(logits.shape)
    observed = np.bincount(drawn.ravel(), minlength=probs.shape[-1])
    stat, df = pearson(observed.astype(float), probs.sum(axis=(0, 1)))
    assert df >= 5 and stat < chi2_limit(df)
    u = np.stack([stream_uniforms_numpy(keys, t, 1)[:, 0] for t in range(length)])  # (T, n)
    expected = inverse_cdf(probs.reshape(-1, probs.shape[-1]), u.ravel()).reshape(drawn.shape)
    assert np.mean(expected == drawn) > 0.995  # float32 step differences can move a boundary, rarely


def test_a_stream_is_the_same_alone_and_at_any_batch_position(lm):
    alone = [lm.generate("ste", length=40, seed=s, temperature=0.9) for s in (5, 6, 7)]
    assert lm.generate("ste", length=40, seed=5, temperature=0.9, n=3) == alone
    assert lm.generate("ste", length=40, seed=3, temperature=0.9, n=5)[2:] == alone
    assert lm.generate("ste", length=40, seed=5, temperature=0.9) == alone[0]  # and on every run
    assert len(set(alone)) == 3


def test_greedy_in_graph_is_the_step_by_step_greedy_continuation(lm):
    for prime in ("", "t", "brachio"):
        greedy = SampleSettings(length=30, temperature=0.0)
        assert generate(lm, prime, greedy) == generate(lm, prime, greedy, in_graph=False)


def test_stop_at_eos_ends_the_loop_when_every_stream_has_ended(lm):
    texts = lm.generate(length=300, seed=2, stop_at_eos=True, n=6)
    assert all("\n" not in t and len(t) < 300 for t in texts)
    generator = lm._generators[(1.0, None, None, (PAD_ID, BOS_ID, UNK_ID), True, True)]  # a character model: no <unk>
    drawn = generator(np.full((1, 6), BOS_ID), 300, stream_keys(2, 6))
    ended = [np.flatnonzero(column == EOS_ID) for column in drawn.T]
    assert all(len(e) for e in ended) and len(drawn) == max(e[0] for e in ended) + 1  # stops at the last <eos>
    assert [t for t in texts] == ["".join(lm.vocab.id_to_token(int(i)) for i in col[:e[0]])
                                  for col, e in zip(drawn.T, ended)]


def test_the_generator_follows_further_training_and_a_new_model(lm, tmp_path):
    before = lm.generate("a", length=20, seed=1)
    saved = lm.save(tmp_path / "m")
    loaded = LanguageModelPipeline.load(saved)
    assert loaded.generate("a", length=20, seed=1) == before
    weights = loaded.model.get_weights()
    loaded.model.set_weights([w * 0.5 for w in weights])  # the same model object, new weights
    assert loaded.generate("a", length=20, seed=1, temperature=0) == generate(
        loaded, "a", SampleSettings(length=20, temperature=0.0, seed=1), in_graph=False)[0]


def test_graph_generator_with_a_plain_draw_and_no_xla():
    """The loop on its own: a one-unit Elman cell with fixed weights, the draw a threshold."""
    from nlp_tasks.layers.cells import RNNCell

    cell = RNNCell(1)
    cell.build((None, 1))
    cell.set_weights([np.array([[0.5, 1.0]], np.float32), np.zeros(1, np.float32)])  # a<t> = tanh(0.5 a + x)
    generator = GraphGenerator([cell], lambda a: a, lambda t, y, keys: tf.cast(y > 0.7, tf.float32),
                               jit_compile=False)
    drawn = generator(np.array([[[1.0]], [[1.0]]]), 5, stream_keys(0, 1))
    a, x, expected = 0.0, 1.0, []
    a = math.tanh(0.5 * a + 1.0)  # the primer's first input only advances a<t>
    for _ in range(5):
        a = math.tanh(0.5 * a + x)
        x = float(a > 0.7)
        expected.append(x)
    assert drawn[:, 0, 0].tolist() == expected
