"""Our layers inside real Keras models: masking, Bidirectional, stateful, initial states,
config round-trips and save -> load with safe_mode=True."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_tasks.errors import UserError
from nlp_tasks.layers import (
    CRF,
    NADE,
    AttentionPooling,
    GRUCell,
    LSTMCell,
    MinimalGRUCell,
    Recurrent,
    RNNCell,
    TokenFeatures,
    WordDropout,
    recurrent,
)

KINDS = ["rnn", "gru", "mingru", "lstm"]
VOCAB, EMB, UNITS = 20, 6, 5


def tagger(kind, **cell_kwargs):
    """Embedding(mask_zero) -> BiRecurrent -> Recurrent(last) -> Dense: exercises masks both ways."""
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, EMB, mask_zero=True)(inputs)
    x = keras.layers.Bidirectional(recurrent(kind, UNITS, return_sequences=True, **cell_kwargs))(x)
    seq = keras.layers.Dense(3)(x)
    last = recurrent(kind, UNITS, **cell_kwargs)(x)
    return keras.Model(inputs, [seq, keras.layers.Dense(2)(last)])


@pytest.mark.parametrize("kind", KINDS)
def test_padded_batch_equals_unpadded_sequences(kind):
    keras.utils.set_random_seed(0)
    model = tagger(kind)
    rng = np.random.default_rng(0)
    lengths = [7, 3, 5]
    seqs = [rng.integers(1, VOCAB, n) for n in lengths]
    batch = np.zeros((len(seqs), max(lengths)), dtype="int32")
    for i, s in enumerate(seqs):
        batch[i, : len(s)] = s
    seq_out, last_out = model(batch)
    for i, s in enumerate(seqs):
        alone_seq, alone_last = model(s[None, :].astype("int32"))
        np.testing.assert_allclose(seq_out[i, : len(s)], alone_seq[0], atol=1e-5)
        np.testing.assert_allclose(last_out[i], alone_last[0], atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_stateful_layer_carries_state_across_calls(kind):
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 8, 3)).astype("float32")
    whole = recurrent(kind, UNITS, return_sequences=True)
    stateful = recurrent(kind, UNITS, return_sequences=True, stateful=True)
    whole.build((2, 8, 3))
    stateful.build((2, 8, 3))
    stateful.set_weights(whole.get_weights())
    first, second = stateful(x[:, :4]), stateful(x[:, 4:])
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole(x), atol=1e-5)
    stateful.reset_state()
    np.testing.assert_allclose(stateful(x[:, :4]), first, atol=1e-6)



@pytest.mark.parametrize("hoist", [True, False])
def test_fixed_batch_unknown_length_in_a_graph_runs_every_step(hoist):
    # Regression: Keras' loop falls back to inputs.shape[1] for the length, which for our
    # time-major inputs is the batch size: a fixed batch of 2 ran only 2 of 9 steps in a graph.
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 9, 3)).astype("float32")
    layer = Recurrent(GRUCell(UNITS), return_sequences=True, stateful=True, hoist_inputs=hoist)
    layer.build((2, None, 3))
    eager = np.asarray(layer(x))
    layer.reset_state()
    graph = tf.function(layer, input_signature=[tf.TensorSpec((2, None, 3), tf.float32)])
    np.testing.assert_allclose(graph(tf.constant(x)), eager, atol=1e-6)

@pytest.mark.parametrize("kind", KINDS)
def test_return_state_gives_final_states(kind):
    layer = recurrent(kind, UNITS, return_sequences=True, return_state=True)
    outputs = layer(np.random.default_rng(2).normal(size=(2, 4, 3)).astype("float32"))
    seq, states = outputs[0], outputs[1:]
    assert len(states) == (2 if kind == "lstm" else 1)
    np.testing.assert_allclose(states[0], seq[:, -1], atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_learned_initial_state_is_trained(kind):
    keras.utils.set_random_seed(3)
    layer = recurrent(kind, UNITS, initial_state_mode="learned")
    x = np.random.default_rng(3).normal(size=(4, 3, 2)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) ** 2)
    init = layer.cell.initial_state_weight
    assert init.trainable and init.shape == ((2 if kind == "lstm" else 1), UNITS)
    grad = tape.gradient(loss, init)
    assert grad is not None and float(tf.reduce_sum(tf.abs(grad))) > 0


def test_random_initial_state_is_fixed_and_not_trained():
    keras.utils.set_random_seed(4)
    layer = recurrent("gru", UNITS, initial_state_mode="random", initial_state_stddev=0.5)
    x = np.zeros((3, 2, 2), dtype="float32")
    out1, out2 = layer(x), layer(x)
    np.testing.assert_array_equal(out1, out2)
    assert not layer.cell.initial_state_weight.trainable
    assert float(np.std(layer.cell.initial_state_weight.numpy())) > 0.05
    zeros = recurrent("gru", UNITS)
    zeros.build(x.shape)
    zeros.cell.set_weights(layer.cell.get_weights()[:-1])
    assert not np.allclose(zeros(x), out1)  # a<0> really entered the computation


@pytest.mark.parametrize(
    "cell",
    [RNNCell(4, activation="relu"), GRUCell(4, reset_after=False, initial_state_mode="learned"),
     MinimalGRUCell(4), LSTMCell(4, unit_forget_bias=False, initial_state_mode="random")],
    ids=lambda c: type(c).__name__,
)
def test_config_round_trip(cell):
    config = keras.saving.serialize_keras_object(Recurrent(cell, return_sequences=True, go_backwards=True))
    rebuilt = keras.saving.deserialize_keras_object(config)
    assert type(rebuilt) is Recurrent and type(rebuilt.cell) is type(cell)
    assert rebuilt.cell.get_config() == cell.get_config()
    assert rebuilt.go_backwards and rebuilt.return_sequences


@pytest.mark.parametrize("mode", ["zeros", "learned", "random"])
@pytest.mark.parametrize("kind", KINDS)
def test_save_load_safe_mode_identical_predictions(kind, mode, tmp_path):
    keras.utils.set_random_seed(5)
    model = tagger(kind, initial_state_mode=mode)
    for w in model.weights:  # move learned initial states off zero so the test can see them
        w.assign(w + 0.01 * np.random.default_rng(5).normal(size=w.shape).astype("float32"))
    x = np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]], dtype="int32")
    want = model(x)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    for got, exp in zip(loaded(x), want):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(exp))


def test_lstm_forget_bias_starts_at_one():
    cell = LSTMCell(3)
    cell.build((None, 2))
    np.testing.assert_array_equal(cell.bias.numpy()[3:6], 1.0)
    np.testing.assert_array_equal(cell.bias.numpy()[:3], 0.0)


def test_kernel_blocks_initialised_like_keras():
    """Each gate's recurrent block is orthogonal; the input blocks are Glorot-sized."""
    keras.utils.set_random_seed(6)
    cell = GRUCell(8)
    cell.build((None, 5))
    kernel = cell.kernel.numpy()
    assert kernel.shape == (24, 13)
    for g in range(3):
        w_a = kernel[g * 8:(g + 1) * 8, :8]
        np.testing.assert_allclose(w_a @ w_a.T, np.eye(8), atol=1e-5)
    assert np.abs(kernel[:, 8:]).max() <= np.sqrt(6 / (5 + 8)) + 1e-6


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: RNNCell(0), "units must be a positive integer"),
        (lambda: RNNCell(4, activation="sigmoid"), "activation must be tanh or relu"),
        (lambda: GRUCell(4, reset_after="yes"), "reset_after must be True or False"),
        (lambda: LSTMCell(4, initial_state_mode="noise"), "initial_state_mode must be one of"),
        (lambda: recurrent("transformer", 4), "unknown cell type"),
    ],
)
def test_bad_arguments_fail_early_with_the_value(make, message):
    with pytest.raises(UserError, match=message):
        make()


def test_keras_builtin_layers_swaps_in_keras_own_layers_for_benchmarks():
    from nlp_tasks.layers import Recurrent, keras_builtin_layers

    with keras_builtin_layers():
        gru = recurrent("gru", 4, return_sequences=True, go_backwards=True, name="g")
        lstm, rnn = recurrent("lstm", 4), recurrent("rnn", 4, stateful=True)
        with pytest.raises(UserError, match="no built-in layer"):
            recurrent("mingru", 4)
    assert type(gru) is keras.layers.GRU and gru.return_sequences and gru.go_backwards and gru.name == "g"
    assert type(lstm) is keras.layers.LSTM and type(rnn) is keras.layers.SimpleRNN and rnn.stateful
    assert isinstance(recurrent("gru", 4), Recurrent)  # ours again after the block


def test_training_paths_of_the_fixed_rule_and_the_layer_arguments():
    gru, rnn = Recurrent(GRUCell(4)), Recurrent(RNNCell(4))
    gru.build((None, 5, 2)), rnn.build((None, 5, 2))
    assert gru.training_path() == "bptt" and rnn.training_path() == "bptt"  # the fixed rule (conftest)
    assert Recurrent(GRUCell(4, reset_after=False), fused_backward=True).training_path(n_x=2) == "hoisted"
    assert Recurrent(MinimalGRUCell(4), hoist_inputs=False).training_path(n_x=2) == "loop"
    assert Recurrent(GRUCell(4), fused_backward=False).training_path(n_x=2) == "hoisted"
    assert Recurrent(RNNCell(4), fused_backward=False).training_path(n_x=2) == "loop"
    assert Recurrent(LSTMCell(4), hoist_inputs=False).training_path(n_x=2) == "loop"
    assert Recurrent(LSTMCell(4), hoist_inputs=True).training_path(n_x=2) == "bptt"
    # Same function either way: training=True with dropout-free cells equals inference.
    x = np.random.default_rng(0).normal(size=(3, 5, 2)).astype("float32")
    np.testing.assert_allclose(gru(x, training=True), gru(x, training=False), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [
    lambda: GRUCell(0), lambda: RNNCell(4, activation="sigmoid"), lambda: Recurrent(GRUCell(3), fused="yes"),
    lambda: CRF(1), lambda: NADE(88, 0), lambda: AttentionPooling(0), lambda: WordDropout(1.5),
    lambda: TokenFeatures(1),
], ids=["GRUCell", "RNNCell", "Recurrent", "CRF", "NADE", "AttentionPooling", "WordDropout", "TokenFeatures"])
def test_layer_constructors_refuse_bad_arguments_with_a_user_error_that_is_a_value_error(make):
    with pytest.raises(UserError) as caught:
        make()
    assert isinstance(caught.value, ValueError) and "\n" not in str(caught.value)
