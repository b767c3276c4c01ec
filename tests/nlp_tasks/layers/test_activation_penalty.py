"""ActivationPenalty: AWD-LSTM's AR and TAR against NumPy, masked, training-only, saved and loaded."""

import keras
import numpy as np
import pytest

from nlp_tasks.errors import UserError
from nlp_tasks.layers import ActivationPenalty


def reference(outputs, dropped, mask, alpha, beta):
    """The two terms written out: means over the real steps (pairs of real steps) and the units."""
    m = mask.astype(float)
    units = outputs.shape[-1]
    ar = (np.square(dropped).sum(-1) * m).sum() / (m.sum() * units)
    pairs = m[:, 1:] * m[:, :-1]
    tar = (np.square(np.diff(outputs, axis=1)).sum(-1) * pairs).sum() / (pairs.sum() * units)
    return alpha * ar + beta * tar


def test_penalty_matches_numpy_with_and_without_mask():
    rng = np.random.default_rng(0)
    outputs = rng.uniform(-1, 1, (3, 7, 5)).astype("float32")
    dropped = (outputs * (rng.uniform(size=outputs.shape) > 0.3) / 0.7).astype("float32")
    mask = np.array([[1] * 7, [1] * 4 + [0] * 3, [1] * 1 + [0] * 6], bool)
    layer = ActivationPenalty(2.0, 1.0)
    got = float(layer.penalty(outputs, dropped, mask))
    np.testing.assert_allclose(got, reference(outputs, dropped, mask, 2.0, 1.0), rtol=1e-5)
    full = np.ones((3, 7), bool)
    np.testing.assert_allclose(float(layer.penalty(outputs, dropped)), reference(outputs, dropped, full, 2.0, 1.0),
                               rtol=1e-5)
    # AR alone, TAR alone
    np.testing.assert_allclose(float(ActivationPenalty(3.0, 0).penalty(outputs, dropped, mask)),
                               reference(outputs, dropped, mask, 3.0, 0.0), rtol=1e-5)
    np.testing.assert_allclose(float(ActivationPenalty(0, 0.5).penalty(outputs, dropped, mask)),
                               reference(outputs, dropped, mask, 0.0, 0.5), rtol=1e-5)


def test_added_to_the_loss_while_training_only_and_identity_otherwise():
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(ids)
    h = keras.layers.GRU(6, return_sequences=True)(x)
    d = keras.layers.Dropout(0.5)(h)
    y = ActivationPenalty(2.0, 1.0, name="penalty")([h, d])
    model = keras.Model(ids, y)
    batch = np.array([[1, 2, 3, 0], [4, 5, 0, 0]], "int32")
    out = model(batch, training=False)
    assert model.losses == []
    np.testing.assert_allclose(np.asarray(out), np.asarray(keras.Model(ids, h)(batch)), atol=1e-6)
    model(batch, training=True)
    assert len(model.losses) == 1 and float(model.losses[0]) > 0
    restored = keras.Model.from_config(model.get_config())
    assert restored.get_layer("penalty").get_config()["alpha"] == 2.0


def test_bad_weights_refused():
    with pytest.raises(UserError, match="alpha"):
        ActivationPenalty(-1.0)
    with pytest.raises(UserError, match="beta"):
        ActivationPenalty(0.0, float("nan"))
