"""The NADE output layer against the NumPy reference, central differences and brute force."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_tasks import reference as ref
from nlp_tasks.layers import NADE, nade_loss

D, H, FEATURES = 5, 3, 4


def make_layer(rng, n_visible=D, units=H, dtype="float64", scale=0.8):
    layer = NADE(n_visible, units, dtype=dtype)
    layer.build((None, FEATURES))
    layer.set_weights([rng.normal(0, scale, w.shape) for w in layer.get_weights()])
    return layer


def reference_weights(layer):
    """The layer's shared weights in the reference's column layout: W (n_h, D), V (D, n_h)."""
    return np.asarray(layer.input_kernel).T, np.asarray(layer.output_kernel)


def random_case(rng, batch=(2, 3)):
    frames = (rng.random((*batch, D)) < 0.4).astype(np.float64)
    params = rng.normal(0, 1, (*batch, D + H))
    return frames, params


def as_columns(frames, params):
    """(..., D) frames and (..., D + H) biases -> the reference's (D, m), (D, m), (H, m)."""
    v = frames.reshape(-1, D).T
    p = params.reshape(-1, D + H).T
    return v, p[:D], p[D:]


def test_log_likelihood_matches_the_reference():
    rng = np.random.default_rng(0)
    layer = make_layer(rng)
    frames, params = random_case(rng)
    ours = np.asarray(layer.log_likelihood(tf.constant(frames), tf.constant(params)))
    W, V = reference_weights(layer)
    ll, _, _ = ref.nade_forward(*as_columns(frames, params), W, V)
    assert ours.shape == (2, 3)
    np.testing.assert_allclose(ours.reshape(-1), ll, rtol=1e-12, atol=1e-12)
    # the factors: each key's conditional at the true lower keys
    p = np.asarray(layer.conditionals(tf.constant(frames), tf.constant(params))).reshape(-1, D)
    np.testing.assert_allclose(np.sum(frames.reshape(-1, D) * np.log(p) + (1 - frames.reshape(-1, D)) * np.log(1 - p),
                                      axis=1), ll, rtol=1e-12)


def test_gradients_match_the_reference_backward():
    rng = np.random.default_rng(1)
    layer = make_layer(rng)
    frames, params = random_case(rng)
    params_tf = tf.constant(params)
    with tf.GradientTape() as tape:
        tape.watch(params_tf)
        total = tf.reduce_sum(layer.log_likelihood(tf.constant(frames), params_tf))
    d_params, d_w, d_v = tape.gradient(total, [params_tf, layer.input_kernel, layer.output_kernel])
    v, bv, bh = as_columns(frames, params)
    W, V = reference_weights(layer)
    _, _, cache = ref.nade_forward(v, bv, bh, W, V)
    grads = ref.nade_backward(v, cache, W, V)
    d_params = np.asarray(d_params).reshape(-1, D + H).T
    np.testing.assert_allclose(d_params[:D], grads["bv"], atol=1e-12)
    np.testing.assert_allclose(d_params[D:], grads["bh"], atol=1e-12)
    np.testing.assert_allclose(np.asarray(d_w).T, grads["W"], atol=1e-12)
    np.testing.assert_allclose(np.asarray(d_v), grads["V"], atol=1e-12)


def test_reference_backward_against_central_differences():
    rng = np.random.default_rng(2)
    v = (rng.random((D, 4)) < 0.5).astype(float)
    values = {"bv": rng.normal(0, 1, (D, 4)), "bh": rng.normal(0, 1, (H, 4)), "W": rng.normal(0, 1, (H, D)),
              "V": rng.normal(0, 1, (D, H))}

    def log_p():
        return float(ref.nade_forward(v, values["bv"], values["bh"], values["W"], values["V"])[0].sum())

    _, _, cache = ref.nade_forward(v, values["bv"], values["bh"], values["W"], values["V"])
    grads = ref.nade_backward(v, cache, values["W"], values["V"])
    for name, value in values.items():
        np.testing.assert_allclose(grads[name], ref.numerical_gradient(log_p, value), atol=1e-7, err_msg=name)


def test_the_probabilities_of_all_frames_sum_to_one():
    """Brute force over all 2^D frames, for the layer and for the reference."""
    rng = np.random.default_rng(3)
    layer = make_layer(rng, scale=1.5)
    params = rng.normal(0, 2, (2, D + H))
    every = np.array(list(itertools.product([0.0, 1.0], repeat=D)))  # (32, D)
    for row in params:
        ll = np.asarray(layer.log_likelihood(tf.constant(every), tf.constant(np.tile(row, (len(every), 1)))))
        assert np.exp(ll).sum() == pytest.approx(1.0, abs=1e-12)
        W, V = reference_weights(layer)
        ref_ll, _, _ = ref.nade_forward(every.T, np.tile(row[:D, None], len(every)),
                                        np.tile(row[D:, None], len(every)), W, V)
        assert np.exp(ref_ll).sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_samples_follow_the_reference_draw_and_the_distribution(temperature):
    rng = np.random.default_rng(4)
    layer = make_layer(rng, n_visible=3, units=H)
    params = np.tile(rng.normal(0, 1, (1, 3 + H)), (20000, 1))
    uniforms = rng.random((20000, 3))
    drawn = np.asarray(tf.function(layer.sample)(tf.constant(params), tf.constant(uniforms), temperature))
    W, V = np.asarray(layer.input_kernel).T, np.asarray(layer.output_kernel)
    _, expected, _ = ref.nade_forward(None, params[:, :3].T, params[:, 3:].T, W, V, uniforms=uniforms.T,
                                      temperature=temperature)
    assert np.array_equal(drawn, expected.T)  # the same keys from the same random numbers
    # Frequencies of the 8 frames against the product of the tempered conditionals.
    every = np.array(list(itertools.product([0.0, 1.0], repeat=3)))
    logits = np.asarray(layer.logits(tf.constant(every), tf.constant(params[:8])))
    p = 1 / (1 + np.exp(-logits / temperature))
    expected_p = np.prod(np.where(every == 1, p, 1 - p), axis=1)
    counts = np.array([np.all(drawn == frame, axis=1).sum() for frame in every])
    chi2 = np.sum((counts - 20000 * expected_p) ** 2 / (20000 * expected_p))
    assert chi2 < 24.3  # 7 degrees of freedom: p < 0.001 under the right distribution


def test_greedy_sampling_takes_each_key_above_one_half():
    rng = np.random.default_rng(5)
    layer = make_layer(rng)
    params = rng.normal(0, 2, (6, D + H))
    greedy = np.asarray(layer.sample(tf.constant(params)))
    # each drawn key's conditional, given the keys drawn below it, is on the side it was drawn
    p = np.asarray(layer.conditionals(tf.constant(greedy), tf.constant(params)))
    assert np.array_equal(greedy, (p > 0.5).astype(float))
    at_zero = np.asarray(layer.sample(tf.constant(params), tf.constant(rng.random((6, D))), 0.0))
    assert np.array_equal(at_zero, greedy)  # temperature 0 is greedy whatever the random numbers


def test_vectorised_log_likelihood_in_float32_matches_float64():
    rng = np.random.default_rng(6)
    layer = make_layer(rng, n_visible=88, units=16, dtype="float64", scale=0.3)
    frames = (rng.random((2, 7, 88)) < 0.05).astype(np.float64)
    params = rng.normal(0, 1, (2, 7, 88 + 16))
    exact = np.asarray(layer.log_likelihood(tf.constant(frames), tf.constant(params)))
    single = NADE(88, 16, dtype="float32")
    single.build((None, FEATURES))
    single.set_weights(layer.get_weights())
    ours = np.asarray(single.log_likelihood(tf.constant(frames, tf.float32), tf.constant(params, tf.float32)))
    np.testing.assert_allclose(ours, exact, rtol=1e-5)


def test_a_model_with_the_head_trains_saves_and_loads(tmp_path):
    rng = np.random.default_rng(7)
    keras.utils.set_random_seed(7)
    inputs = keras.Input((None, FEATURES))
    head = NADE(D, H, name="nade")
    model = keras.Model(inputs, head(inputs))
    x = rng.normal(0, 1, (32, 6, FEATURES)).astype(np.float32)
    y = (x[..., np.arange(D) % FEATURES] > 0).astype(np.float32)  # key d on when feature d mod 4 is positive
    before = float(np.mean(head.negative_log_likelihood(y, model(x))))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=nade_loss(head))
    model.fit(x, y, epochs=30, batch_size=8, verbose=0)
    after = float(np.mean(head.negative_log_likelihood(y, model(x))))
    assert after < 0.5 * before
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False, safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)
    assert loaded.get_layer("nade").get_config() == head.get_config()
    assert NADE.from_config(head.get_config()).get_config() == head.get_config()


@pytest.mark.parametrize("kwargs", [dict(n_visible=0, units=3), dict(n_visible=4, units=True),
                                    dict(n_visible=4, units=2.5)])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="NADE: .* must be an integer >= 1"):
        NADE(**kwargs)


@pytest.mark.parametrize("head, cell", [("nade", "lstm"), ("sigmoid", "gru")])
def test_the_music_model_scored_in_chunks_is_the_model_in_one_pass(head, cell, monkeypatch):
    """Evaluation runs a bounded number of time steps at a time (a 50,000-step piece needed
    gigabytes in one pass); each recurrent layer carries its states (two for the LSTM) from
    chunk to chunk, so the outputs and the report are those of one pass."""
    from tasks.music import MusicConfig, MusicPipeline
    from tasks.music import scoring as music_scoring

    keras.utils.set_random_seed(8)
    pipe = MusicPipeline(MusicConfig(units=4, layers=2, cell=cell, head=head, nade_units=3))
    pipe.build_model()
    x = (np.random.default_rng(8).random((2, 23, 88)) < 0.1).astype(np.float32)
    width = music_scoring.ChunkedForward(pipe.model, pipe.head.values_per_step()).width
    forward = music_scoring.ChunkedForward(pipe.model, pipe.head.values_per_step(), chunk_values=7 * 2 * width)
    spans = forward.spans(2, 23)
    assert [(s.start, s.stop) for s in spans] == [(0, 7), (7, 14), (14, 21), (21, 23)]
    states, parts = forward.zero_state(2), []
    for span in spans:
        outputs, states = forward(x[:, span], states)
        parts.append(np.asarray(outputs))
    np.testing.assert_allclose(np.concatenate(parts, axis=1), np.asarray(pipe.model(x, training=False)),
                               rtol=1e-6, atol=1e-6)  # the output layer's products differ in rounding only
    pieces = [[[int(k) for k in np.flatnonzero(frame) + 21] for frame in piece] for piece in x]
    whole = pipe.evaluate(pieces)  # 23 steps of 2 pieces: one chunk
    monkeypatch.setattr(music_scoring, "CHUNK_VALUES", 5 * 2 * width)  # 5 steps of 2 pieces a chunk
    chunked = pipe.evaluate(pieces)
    probabilities = pipe.predict(pieces[:1])
    assert chunked["steps"] == whole["steps"] == 46
    for key in ("nll_per_step", "frame_accuracy", "precision", "recall"):
        assert chunked[key] == pytest.approx(whole[key], rel=1e-6), key
    expected = pipe.head.probabilities(x[:1], np.asarray(pipe.model(pipe._examples([x[0]])[0][0][None])))[0]
    np.testing.assert_allclose(probabilities[0], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("temperature", [1e-3, 1e3])
def test_sampling_at_the_ends_of_the_temperature_range(temperature):
    """float32 conditionals divided by 0.001 or 1000 neither overflow into NaN nor lose the draw:
    0.001 is the greedy frame, 1000 a fair coin per key (u < 1/2)."""
    rng = np.random.default_rng(9)
    layer = make_layer(rng, dtype="float32")
    params = tf.constant(rng.normal(0, 2, (4000, D + H)), tf.float32)
    uniforms = rng.random((4000, D))
    drawn = np.asarray(layer.sample(params, tf.constant(uniforms, tf.float32), temperature))
    expected = np.asarray(layer.sample(params)) if temperature < 1 else (uniforms < 0.5).astype(np.float32)
    assert np.mean(drawn == expected) > 0.995
