"""The fused path (Keras' cuDNN GRU/LSTM backend function with our weights converted in the
graph): on this CPU it runs Keras' equations in the generic loop, so the conversion and its
gradients are checked here; the dispatch rule is checked for each case."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_tasks import _keras_compat
from nlp_tasks.cli import main as cli
from nlp_tasks.layers import fused
from nlp_tasks.layers.cells import GRUCell, LSTMCell, MinimalGRUCell, RNNCell
from nlp_tasks.layers.recurrent import Recurrent, path_summary, recurrent

CELLS = {"gru": lambda u, **kw: GRUCell(u, **kw), "lstm": lambda u, **kw: LSTMCell(u, **kw)}


def _randomise(layer, seed=0):
    rng = np.random.default_rng(seed)
    layer.cell.set_weights([rng.normal(size=w.shape) * 0.5 for w in layer.cell.get_weights()])


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("case", ["plain", "mask", "backwards", "state"])
def test_fused_conversion_gives_our_outputs_and_gradients(kind, case):
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(3, 7, 4)))
    mask = tf.constant(np.array([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5], bool)) if case == "mask" else None
    kwargs = dict(return_sequences=True, return_state=True, go_backwards=case == "backwards")
    cell = CELLS[kind](5, dtype="float64")
    ours = Recurrent(cell, fused=False, dtype="float64", **kwargs)
    other = Recurrent(cell, fused=True, dtype="float64", **kwargs)
    ours(x)
    _randomise(ours)
    initial = None
    if case == "state":
        initial = [tf.constant(rng.normal(size=(3, 5))) for _ in range(cell.N_STATES)]
    results = []
    for layer in (ours, other):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = layer(x, mask=mask, initial_state=initial, training=True)
            loss = tf.reduce_sum(out[0] * tf.cos(tf.range(5, dtype=tf.float64))) + tf.reduce_sum(out[1] ** 2)
        grads = tape.gradient(loss, [x, *layer.cell.trainable_weights])
        results.append(([np.asarray(o) for o in out], [np.asarray(g) for g in grads]))
    (out_a, grad_a), (out_b, grad_b) = results
    for a, b in zip(out_a, out_b):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-6)
    for a, b in zip(grad_a, grad_b):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_converted_weights_drive_keras_own_layer_to_our_outputs(kind):
    """The converted weights in Keras' own GRU/LSTM (the layer whose cuDNN path we call) give
    our layer's outputs: the layout is Keras', not only self-consistent."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    cell = CELLS[kind](4)
    ours = Recurrent(cell, return_sequences=True, fused=False)
    ours(x)
    _randomise(ours, seed=3)
    theirs = (keras.layers.GRU(4, return_sequences=True, reset_after=True) if kind == "gru"
              else keras.layers.LSTM(4, return_sequences=True))
    theirs(x)
    theirs.set_weights([np.asarray(w) for w in fused.keras_weights(cell)])
    np.testing.assert_allclose(np.asarray(theirs(x)), np.asarray(ours(x)), atol=1e-5)


def test_the_keras_backend_function_is_called_and_falls_back_without_a_gpu(monkeypatch):
    calls = []
    real = _keras_compat.backend_fused

    def spy(kind):
        function = real(kind)

        def wrapped(*args, **kwargs):
            calls.append(kind)
            return function(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(_keras_compat, "backend_fused", spy)
    layer = Recurrent(GRUCell(3), fused=True)
    out = layer(np.ones((2, 4, 2), "float32"))
    assert calls == ["gru"] and out.shape == (2, 3)
    if not fused.gpu_visible():  # on a CPU Keras' function refuses, and the generic loop ran
        with pytest.raises(NotImplementedError):
            real("gru")(tf.ones((2, 4, 2)), tf.zeros((2, 3)), None, *fused.keras_weights(layer.cell),
                        keras.activations.tanh, keras.activations.sigmoid)


@pytest.mark.parametrize("make, gpu, expected", [
    (lambda: recurrent("gru", 4), True, True),
    (lambda: recurrent("gru", 4), False, False),
    (lambda: recurrent("lstm", 4), True, True),
    (lambda: recurrent("lstm", 4), False, False),
    (lambda: Recurrent(GRUCell(4, reset_after=False)), True, False),
    (lambda: recurrent("rnn", 4), True, False),
    (lambda: recurrent("mingru", 4), True, False),
    (lambda: Recurrent(GRUCell(4), unroll=True), True, False),
    (lambda: Recurrent(GRUCell(4), fused=False), True, False),
    (lambda: Recurrent(LSTMCell(4), fused=True), False, True),
])
def test_dispatch_rule(make, gpu, expected):
    assert fused.takes_fused_path(make(), gpu=gpu) is expected


@pytest.mark.parametrize("cell", [lambda: RNNCell(3), lambda: MinimalGRUCell(3), lambda: GRUCell(3, reset_after=False)])
def test_forcing_the_fused_path_on_a_layer_without_one_is_refused(cell):
    with pytest.raises(ValueError, match="cannot take the fused path"):
        Recurrent(cell(), fused=True)
    with pytest.raises(ValueError, match="fused must be"):
        Recurrent(GRUCell(3), fused="yes")


def test_fused_setting_round_trips_and_a_model_trains_on_either_path(tmp_path):
    x = np.random.default_rng(0).normal(size=(16, 5, 3)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None]
    inputs = keras.Input((5, 3))
    model = keras.Model(inputs, keras.layers.Dense(1)(Recurrent(LSTMCell(4), fused=True)(inputs)))
    model.compile("adam", "mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=5, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.layers[1].fused is True
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_info_says_which_path_each_cell_kind_takes(capsys):
    assert cli.main(["info", "--json"]) == 0
    paths = json.loads(capsys.readouterr().out)["recurrent_paths"]
    assert set(paths) == {"rnn", "gru", "mingru", "lstm"}
    assert paths["rnn"].startswith("our time loop (RNNCell has no fused kernel")
    expected = "fused (cuDNN through Keras)" if fused.gpu_visible() else "our time loop (no GPU visible)"
    assert paths["gru"] == expected and paths["lstm"] == expected
    assert path_summary(gpu=True)["gru"] == "fused (cuDNN through Keras)"
