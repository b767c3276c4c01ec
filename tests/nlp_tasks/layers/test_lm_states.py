"""LanguageModelStates: the states it picks are those of the language model run alone on each
text; it takes a language model's weights, refuses other shapes, masks padding, saves and loads."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from nlp_tasks.errors import UserError
from nlp_tasks.layers import TokenFeatures, recurrent
from nlp_tasks.layers.lm_states import LanguageModelStates
from nlp_tasks.text.vocab import BOS_ID

VOCAB = 12


def language_model(cell="gru", units=6, layers=2, dim=4, seed=0):
    """A language model shaped as tasks.charlm builds one, with random weights."""
    keras.utils.set_random_seed(seed)
    ids = keras.Input((None,), dtype="int32")
    x = TokenFeatures(VOCAB, dim, zero_id=BOS_ID, name="embed_chars")(ids)
    for i in range(1, layers + 1):
        x = recurrent(cell, units, return_sequences=True, name=f"rnn_{i}")(x)
    return keras.Model(ids, keras.layers.Dense(VOCAB, name="output")(x))


def texts():
    rng = np.random.default_rng(1)
    return [[BOS_ID] + rng.integers(4, VOCAB, n).tolist() for n in (9, 4, 7)]


@pytest.mark.parametrize("cell, dim", [("gru", 4), ("lstm", None)])
def test_picked_states_are_the_language_models_own_on_each_text_alone(cell, dim):
    lm = language_model(cell, dim=dim)
    top = keras.Model(lm.input, lm.get_layer("rnn_2").output)
    layer = LanguageModelStates(VOCAB, dim, cell, units=6, layers=2)
    layer.build([(None, None), (None, None)])
    layer.copy_language_model(lm, "embed_chars")
    rows = texts()
    width = max(map(len, rows))
    ids = np.array([row + [0] * (width - len(row)) for row in rows], np.int32)
    positions = np.array([[2, 5, 8], [1, 3, 0], [6, 4, 0]], np.int32)  # 0: no place (padding)
    out = np.asarray(layer([ids, positions]))
    mask = np.asarray(layer.compute_mask([ids, positions]))
    for b, row in enumerate(rows):
        alone = np.asarray(top(np.array([row], np.int32)))[0]  # (len, units)
        for t, p in enumerate(positions[b]):
            expected = alone[p] if p > 0 else np.zeros(6)
            np.testing.assert_allclose(out[b, t], expected, atol=1e-5)
            assert mask[b, t] == (p > 0)


def test_weights_of_another_shape_are_refused_and_bad_arguments_name_the_value():
    layer = LanguageModelStates(VOCAB, 4, "gru", units=8, layers=2)
    layer.build([(None, None), (None, None)])
    with pytest.raises(UserError, match="rnn_1 has weights of shapes"):
        layer.copy_language_model(language_model(units=6), "embed_chars")
    with pytest.raises(UserError, match="cell must be one of .* got 'cnn'"):
        LanguageModelStates(VOCAB, 4, "cnn")
    with pytest.raises(UserError, match="layers must be a positive integer, got 0"):
        LanguageModelStates(VOCAB, 4, "gru", layers=0)


def test_config_round_trip_and_save_load_give_the_same_states(tmp_path):
    ids = keras.Input((None,), dtype="int32")
    positions = keras.Input((None,), dtype="int32")
    layer = LanguageModelStates(VOCAB, 4, "gru", units=6, layers=2, trainable=False, name="lm_forward")
    model = keras.Model([ids, positions], layer([ids, positions]))
    layer.copy_language_model(language_model(), "embed_chars")
    assert LanguageModelStates.from_config(layer.get_config()).get_config() == layer.get_config()
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 1 + 2 * 3
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = [np.array([[BOS_ID, 5, 6, 7, 0]], np.int32), np.array([[2, 4]], np.int32)]
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)
    assert loaded.trainable_weights == []
