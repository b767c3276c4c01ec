"""Learning rates per layer group (ULMFiT's discriminative fine-tuning and gradual unfreezing,
nlp_tasks.layer_rates): each group's Adam steps are its scale times plain Adam's, a group at scale 0
does not move at all, and gradual unfreezing thaws one group per epoch from the top, also when a
run resumes from its checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from nlp_tasks.layer_rates import LayerRates

GROUPS = (("low",), ("mid",), ())  # the output layer belongs to no named group: the top one


def test_scales_per_group_and_epoch():
    assert LayerRates(GROUPS).scales(0) == [1.0, 1.0, 1.0]
    assert LayerRates(GROUPS, decay=2.0).scales(0) == [0.25, 0.5, 1.0]
    assert LayerRates(GROUPS, gradual=True).scales(0) == [0.0, 0.0, 1.0]
    assert LayerRates(GROUPS, gradual=True).scales(1) == [0.0, 1.0, 1.0]
    assert LayerRates(GROUPS, decay=2.6, gradual=True).scales(5) == pytest.approx([2.6 ** -2, 2.6 ** -1, 1.0])


def _model(seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(5, activation="tanh", name="low")(inputs)
    x = keras.layers.Dense(3, activation="tanh", name="mid")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(x))


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 4)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")


def _steps(rates, steps=1, lr=0.01):
    """Each layer's weight changes after ``steps`` full-batch steps, with and without ``rates``."""
    import keras

    from nlp_tasks.layer_rates import grouped_adam

    x, y = _data()
    moved = []
    for grouped in (False, True):
        model = _model()
        before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers[1:]}
        optimizer = grouped_adam(model, rates, learning_rate=lr) if grouped else keras.optimizers.Adam(lr)
        model.compile(optimizer=optimizer, loss="mse", jit_compile=False)
        for _ in range(steps):
            model.train_on_batch(x, y)
        moved.append({name: [w - b for w, b in zip(model.get_layer(name).get_weights(), old)]
                      for name, old in before.items()})
    return moved


def test_each_group_takes_its_share_of_adams_first_step():
    plain, grouped = _steps(LayerRates(GROUPS, decay=2.0))
    for name, scale in (("low", 0.25), ("mid", 0.5), ("out", 1.0)):
        for mine, theirs in zip(grouped[name], plain[name]):
            assert np.abs(theirs).max() > 1e-3  # plain Adam moved it
            np.testing.assert_allclose(mine, scale * theirs, rtol=1e-4, atol=1e-7)


def test_a_frozen_group_does_not_move_and_the_top_one_learns_as_plain_adam():
    _, grouped = _steps(LayerRates(GROUPS, gradual=True), steps=3)
    for name in ("low", "mid"):
        assert all(np.all(change == 0) for change in grouped[name])
    assert all(np.abs(change).max() > 1e-3 for change in grouped["out"])
    plain, grouped = _steps(LayerRates(GROUPS, gradual=True))  # one step: the same gradients as plain Adam's
    for mine, theirs in zip(grouped["out"], plain["out"]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-7)


def test_gradual_unfreezing_thaws_one_group_per_epoch_through_fit_and_resume(tmp_path):
    import tensorflow as tf

    from nlp_tasks.config import TrainSettings
    from nlp_tasks.training import TrainingPlan, fit

    x, y = _data()
    rates = LayerRates(GROUPS, gradual=True)

    def train(epochs, out_dir=None):
        model = _model()
        start = {layer.name: layer.get_weights()[0].copy() for layer in model.layers[1:]}
        plan = TrainingPlan(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), loss="mse", layer_rates=rates)
        fit(model, plan, TrainSettings(epochs=epochs, learning_rate=0.01, seed=0), out_dir=out_dir)
        return {name: not np.array_equal(model.get_layer(name).get_weights()[0], w) for name, w in start.items()}

    assert train(1) == {"low": False, "mid": False, "out": True}
    assert train(2) == {"low": False, "mid": True, "out": True}
    assert train(3) == {"low": True, "mid": True, "out": True}
    # a run killed after its first epoch resumes with the second epoch's scales
    assert train(1, tmp_path / "run") == {"low": False, "mid": False, "out": True}
    model = _model()
    low = model.get_layer("low").get_weights()[0].copy()
    plan = TrainingPlan(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), loss="mse", layer_rates=rates)
    fit(model, plan, TrainSettings(epochs=2, learning_rate=0.01, seed=0), out_dir=tmp_path / "run")
    np.testing.assert_array_equal(model.get_layer("low").get_weights()[0], low)  # still frozen in epoch 2


def test_gradual_unfreezing_under_float16_mixed_precision():
    """Keras wraps the optimizer in a LossScaleOptimizer under mixed_float16: the scales still apply."""
    import keras
    import tensorflow as tf

    from nlp_tasks.config import TrainSettings
    from nlp_tasks.training import TrainingPlan, fit

    x, y = _data()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _model()
        low = model.get_layer("low").get_weights()[0].copy()
        out = model.get_layer("out").get_weights()[0].copy()
        plan = TrainingPlan(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), loss="mse",
                            layer_rates=LayerRates(GROUPS, gradual=True))
        fit(model, plan, TrainSettings(epochs=1, learning_rate=0.01, seed=0))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    np.testing.assert_array_equal(model.get_layer("low").get_weights()[0], low)
    assert not np.array_equal(model.get_layer("out").get_weights()[0], out)
