"""Our Keras cells against the NumPy reference (forward and BPTT) and against Keras' layers."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_tasks import reference as ref
from nlp_tasks.layers import GRUCell, LSTMCell, MinimalGRUCell, Recurrent, RNNCell
from nlp_tasks.layers.convert import from_keras, reference_kind, to_reference

N_X, UNITS, M, T = 3, 4, 2, 5

CELLS = {
    "rnn_tanh": lambda **kw: RNNCell(UNITS, **kw),
    "rnn_relu": lambda **kw: RNNCell(UNITS, activation="relu", **kw),
    "gru": lambda **kw: GRUCell(UNITS, reset_after=False, **kw),
    "gru_reset_after": lambda **kw: GRUCell(UNITS, reset_after=True, **kw),
    "mingru": lambda **kw: MinimalGRUCell(UNITS, **kw),
    "lstm": lambda **kw: LSTMCell(UNITS, **kw),
}


def randomize(layer, rng, scale=0.5):
    """Give every weight (biases included) random values so no term is trivially zero."""
    layer.set_weights([rng.normal(0, scale, w.shape) for w in layer.get_weights()])


def build_layer(name, wrapper, rng, dtype="float64", **rnn_kwargs):
    cell = CELLS[name](dtype=dtype)
    layer = wrapper(cell, return_sequences=True, dtype=dtype, **rnn_kwargs)
    layer.build((None, T, N_X))
    randomize(layer, rng)
    return layer, cell


FUSED = {"rnn_tanh", "rnn_relu", "gru_reset_after", "lstm"}  # cells with a hand-written BPTT


@pytest.mark.parametrize("training", [None, True], ids=["autodiff", "training"])
@pytest.mark.parametrize("wrapper", [Recurrent, keras.layers.RNN], ids=["Recurrent", "keras.RNN"])
@pytest.mark.parametrize("name", list(CELLS))
def test_cell_matches_reference_forward_and_bptt(name, wrapper, training):
    """With ``training=True`` Recurrent takes the hand-written BPTT (nlp_tasks.layers.bptt) for
    the cells that have one; otherwise TensorFlow differentiates the loop."""
    rng = np.random.default_rng(1)
    layer, cell = build_layer(name, wrapper, rng)
    if wrapper is Recurrent and training:
        assert (layer.training_path() == "bptt") == (name in FUSED)
    n_states = 2 if name == "lstm" else 1
    x = rng.normal(0, 1, (M, T, N_X))  # Keras layout: (batch, time, features)
    states0 = [rng.normal(0, 0.5, (M, UNITS)) for _ in range(n_states)]
    upstream = rng.normal(0, 1, (M, T, UNITS))  # dL/da<t> for L = sum(a * upstream)

    x_tf = tf.constant(x)
    s_tf = [tf.constant(s) for s in states0]
    with tf.GradientTape() as tape:
        tape.watch([x_tf, *s_tf])
        a = layer(x_tf, initial_state=s_tf if n_states > 1 else s_tf[0], training=training)
        loss = tf.reduce_sum(a * upstream)
    variables = [cell.kernel, cell.bias] + ([cell.candidate_recurrent_bias] if name == "gru_reset_after" else [])
    grads = tape.gradient(loss, variables + [x_tf, *s_tf])

    # The same computation in the reference's column-vector layout.
    kind = reference_kind(cell)
    params = to_reference(cell)
    options = {"activation": "relu"} if name == "rnn_relu" else {}
    a_ref, caches, _ = ref.forward(kind, x.transpose(2, 0, 1), tuple(s.T for s in states0), params, **options)
    np.testing.assert_allclose(np.asarray(a), a_ref.transpose(1, 2, 0), atol=1e-5, rtol=0)

    dx, dstate0, dparams = ref.backward(kind, upstream.transpose(2, 0, 1), caches, params, **options)
    d_kernel = np.concatenate([dparams[f"W{g}"] for g in cell.GATES], axis=0)
    d_bias = np.concatenate([dparams[f"b{g}"][:, 0] for g in cell.GATES])
    np.testing.assert_allclose(grads[0].numpy(), d_kernel, atol=1e-5, rtol=0)
    np.testing.assert_allclose(grads[1].numpy(), d_bias, atol=1e-5, rtol=0)
    rest = grads[2:]
    if name == "gru_reset_after":
        np.testing.assert_allclose(rest[0].numpy(), dparams["bcr"][:, 0], atol=1e-5, rtol=0)
        rest = rest[1:]
    np.testing.assert_allclose(rest[0].numpy(), dx.transpose(1, 2, 0), atol=1e-5, rtol=0)
    for got, want in zip(rest[1:], dstate0):
        np.testing.assert_allclose(got.numpy(), want.T, atol=1e-5, rtol=0)


KERAS_TWINS = {
    "rnn": (lambda: keras.layers.SimpleRNN(UNITS, return_sequences=True, dtype="float64"), RNNCell, {}),
    "gru_reset_after": (lambda: keras.layers.GRU(UNITS, return_sequences=True, reset_after=True, dtype="float64"),
                        GRUCell, {"reset_after": True}),
    "gru_classic": (lambda: keras.layers.GRU(UNITS, return_sequences=True, reset_after=False, dtype="float64"),
                    GRUCell, {"reset_after": False}),
    "lstm": (lambda: keras.layers.LSTM(UNITS, return_sequences=True, dtype="float64"), LSTMCell, {}),
}


@pytest.mark.parametrize("masked", [False, True], ids=["dense", "masked"])
@pytest.mark.parametrize("name", list(KERAS_TWINS))
def test_cell_reproduces_keras_builtin_layer(name, masked):
    rng = np.random.default_rng(2)
    make_keras, cell_cls, kwargs = KERAS_TWINS[name]
    theirs = make_keras()
    theirs.build((None, T, N_X))
    randomize(theirs, rng)
    ours = Recurrent(cell_cls(UNITS, dtype="float64", **kwargs), return_sequences=True, dtype="float64")
    ours.build((None, T, N_X))
    kind = "gru" if name.startswith("gru") else name
    ours.cell.set_weights(from_keras(kind, theirs.get_weights(), reset_after=kwargs.get("reset_after", True)))

    x = rng.normal(0, 1, (M, T, N_X))
    mask = None
    if masked:
        mask = np.ones((M, T), dtype=bool)
        mask[1, 3:] = False
    np.testing.assert_allclose(
        np.asarray(ours(x, mask=mask)), np.asarray(theirs(x, mask=mask)), atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("hoist", [None, True, False])
@pytest.mark.parametrize("name", list(CELLS))
def test_recurrent_equals_keras_rnn_in_every_mode(name, hoist):
    """The fast layer is the same function as keras.layers.RNN over the same cell."""
    rng = np.random.default_rng(3)
    cell = CELLS[name](dtype="float64")
    fast = Recurrent(cell, return_sequences=True, return_state=True, go_backwards=True, dtype="float64",
                     hoist_inputs=hoist)
    plain = keras.layers.RNN(cell, return_sequences=True, return_state=True, go_backwards=True, dtype="float64")
    fast.build((None, T, N_X))
    randomize(fast, rng)
    x = rng.normal(0, 1, (M, T, N_X))
    mask = np.ones((M, T), dtype=bool)
    mask[0, 2:] = False
    for got, want in zip(fast(x, mask=mask), plain(x, mask=mask)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-10, rtol=0)


def _layer_gradients(name, fused, rng_seed, masked, go_backwards, return_sequences, zero_output_for_mask,
                     compile_with=None):
    """Outputs, states and every gradient of a random loss over a training call of Recurrent."""
    rng = np.random.default_rng(rng_seed)
    cell = CELLS[name](dtype="float64")
    layer = Recurrent(cell, return_sequences=return_sequences, return_state=True, go_backwards=go_backwards,
                      dtype="float64", fused_backward=fused)
    layer.zero_output_for_mask = zero_output_for_mask
    layer.build((None, T, N_X))
    randomize(layer, rng)
    n_states = 2 if name == "lstm" else 1
    x = tf.constant(rng.normal(0, 1, (4, T, N_X)))
    states0 = [tf.constant(rng.normal(0, 0.5, (4, UNITS))) for _ in range(n_states)]
    mask = None
    if masked:  # right padding, left padding, a hole, and an all-padding row (NER's padded words)
        mask = np.ones((4, T), dtype=bool)
        mask[0, 3:] = False
        mask[1, :2] = False
        mask[2, 2] = False
        mask[3, :] = False
        mask = tf.constant(mask)
    shapes = [(4, T if return_sequences else 1, UNITS)] + [(4, UNITS)] * n_states
    upstream = [tf.constant(rng.normal(0, 1, s)) for s in shapes]

    def run(x, states0):
        with tf.GradientTape() as tape:
            tape.watch([x, *states0])
            results = layer(x, initial_state=states0 if n_states > 1 else states0[0], mask=mask, training=True)
            results = [tf.reshape(results[0], shapes[0])] + list(results[1:])
            loss = tf.add_n([tf.reduce_sum(r * u) for r, u in zip(results, upstream)])
        return results, tape.gradient(loss, layer.trainable_weights + [x, *states0])

    if compile_with is not None:
        run = tf.function(run, jit_compile=compile_with == "xla")
    results, grads = run(x, states0)
    return [np.asarray(r) for r in results], [np.asarray(g) for g in grads]


@pytest.mark.parametrize("masked, go_backwards, return_sequences, zero_output_for_mask", [
    (False, False, True, False),
    (True, False, True, False),
    (True, True, True, False),
    (True, True, False, False),
    (True, False, True, True),
    (True, True, False, True),
    (False, True, False, False),
])
@pytest.mark.parametrize("name", sorted(FUSED))
def test_hand_written_bptt_equals_automatic_differentiation(name, masked, go_backwards, return_sequences,
                                                             zero_output_for_mask):
    """Every mode Keras' loop supports: masks with left/right padding and holes, go_backwards,
    the last output only, zeros for masked outputs, non-zero initial states (their gradients too)."""
    options = (masked, go_backwards, return_sequences, zero_output_for_mask)
    fused = _layer_gradients(name, True, 5, *options)
    auto = _layer_gradients(name, False, 5, *options)
    for got, want in zip(fused[0] + fused[1], auto[0] + auto[1]):
        np.testing.assert_allclose(got, want, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("compile_with", ["graph", "xla"])
@pytest.mark.parametrize("name", ["gru_reset_after", "lstm"])
def test_hand_written_bptt_in_a_graph_and_under_xla(name, compile_with):
    fused = _layer_gradients(name, True, 6, True, True, True, False, compile_with=compile_with)
    auto = _layer_gradients(name, False, 6, True, True, True, False)
    for got, want in zip(fused[0] + fused[1], auto[0] + auto[1]):
        np.testing.assert_allclose(got, want, atol=1e-10, rtol=1e-8)


@pytest.mark.parametrize("name", sorted(FUSED))
def test_hand_written_bptt_against_numerical_gradients(name):
    """Central differences on the inputs and initial states, through the hand-written pass."""
    rng = np.random.default_rng(7)
    cell = CELLS[name](dtype="float64")
    layer = Recurrent(cell, return_sequences=True, dtype="float64")
    layer.build((None, T, N_X))
    randomize(layer, rng)
    assert layer.training_path() == "bptt"
    n_states = 2 if name == "lstm" else 1
    mask = tf.constant(np.array([[True] * T, [True] * (T - 2) + [False] * 2]))

    def loss(x, *states0):
        out = layer(x, initial_state=list(states0) if n_states > 1 else states0[0], mask=mask, training=True)
        return tf.reduce_sum(tf.sin(out))

    args = [tf.constant(rng.normal(0, 1, (M, T, N_X)))] + [
        tf.constant(rng.normal(0, 0.5, (M, UNITS))) for _ in range(n_states)]
    analytic, numeric = tf.test.compute_gradient(loss, args, delta=1e-6)
    for a, n in zip(analytic, numeric):
        np.testing.assert_allclose(a, n, atol=1e-7, rtol=1e-6)
