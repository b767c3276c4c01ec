"""The training path measured per machine (nlp_tasks.layers.calibration): what is timed, what is
cached and where, the overrides, and that calibrating leaves a seeded run's random state alone."""

from __future__ import annotations

import json
import random

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_tasks.errors import UserError
from nlp_tasks.layers import GRUCell, LSTMCell, MinimalGRUCell, Recurrent, RNNCell, calibration


@pytest.fixture
def calibrating(tmp_path, monkeypatch):
    """Calibration on, with a cache folder of the test's own and nothing remembered in memory."""
    monkeypatch.setenv(calibration.ENV, "calibrate")
    monkeypatch.setenv(calibration.CACHE_ENV, str(tmp_path / "cache"))
    calibration.forget()
    yield tmp_path / "cache"
    calibration.forget()


def _train_once(layer, batch=4, steps=6, n_x=3):
    model = keras.Sequential([keras.Input((steps, n_x)), layer, keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(batch, steps, n_x)).astype("float32")
    model.fit(x, np.zeros((batch, 1), "float32"), batch_size=batch, epochs=1, verbose=0)
    return model


def test_first_training_step_measures_the_candidates_and_caches_the_fastest(calibrating):
    layer = Recurrent(GRUCell(8))
    _train_once(layer)  # calibrated while Keras traces the train step
    files = list(calibrating.glob("recurrent-paths-*.json"))
    assert len(files) == 1
    record = json.loads(files[0].read_text(encoding="utf-8"))
    assert record["machine"] == calibration.machine()
    (key, entry), = record["entries"].items()
    assert key.startswith("GRUCell:reset_after=True:float32|batch=4|n_x=3|units=8")
    assert set(entry["ms"]) == {"bptt", "hoisted", "loop"} and all(v > 0 for v in entry["ms"].values())
    assert entry["path"] == min(entry["ms"], key=entry["ms"].get)
    assert layer.training_path(4, 6, 3) == entry["path"]


def test_cached_choice_is_used_without_timing_again(calibrating, monkeypatch):
    monkeypatch.setattr(calibration, "measure", lambda *a: {"bptt": 3.0, "hoisted": 1.0, "loop": 2.0})
    assert Recurrent(LSTMCell(5)).training_path(16, 10, 7) == "hoisted"
    calibration.forget()  # a new process: only the file remembers

    timed = []
    monkeypatch.setattr(calibration, "measure",
                        lambda *a: timed.append(a[2:]) or {"bptt": 1.0, "hoisted": 2.0, "loop": 3.0})
    assert Recurrent(LSTMCell(5)).training_path(9, 50, 7) == "hoisted"  # batch 9 -> 16, length capped
    assert Recurrent(LSTMCell(5)).training_path(16, None, 7) == "hoisted"
    assert timed == []
    assert Recurrent(LSTMCell(5)).training_path(64, 10, 7) == "bptt"  # another shape: measured
    assert timed == [(64, 10, 7)]


def test_the_path_chosen_is_one_the_cell_has(calibrating, monkeypatch):
    seen = []
    monkeypatch.setattr(calibration, "measure", lambda layer, options, *a: seen.append(options) or
                        {name: float(i) for i, name in enumerate(options)})
    assert Recurrent(MinimalGRUCell(4)).training_path(8, 5, 3) == "hoisted"
    assert Recurrent(GRUCell(4, reset_after=False)).training_path(8, 5, 3) == "hoisted"
    assert Recurrent(RNNCell(4)).training_path(8, 5, 3) == "bptt"
    assert seen == [("hoisted", "loop"), ("hoisted", "loop"), ("bptt", "hoisted", "loop")]


def test_a_damaged_cache_is_measured_again_and_rewritten(calibrating, monkeypatch):
    monkeypatch.setattr(calibration, "measure", lambda *a: {"bptt": 2.0, "hoisted": 3.0, "loop": 1.0})
    path = calibration.cache_path()
    path.parent.mkdir(parents=True)
    other = path.parent / "notes.txt"
    other.write_text("the user's", encoding="utf-8")
    path.write_bytes(b"\xff{not json")
    assert Recurrent(RNNCell(4)).training_path(8, 5, 3) == "loop"
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == calibration.CACHE_VERSION
    assert other.read_text(encoding="utf-8") == "the user's"
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, "notes.txt"])  # no temporary left


def test_a_calibration_that_fails_trains_along_the_fixed_rule_and_caches_nothing(calibrating, monkeypatch):
    def broken(*args):
        raise RuntimeError("no timer")

    monkeypatch.setattr(calibration, "measure", broken)
    assert Recurrent(MinimalGRUCell(4)).training_path(8, 5, 3) == "hoisted"
    assert Recurrent(RNNCell(4)).training_path(8, 5, 3) == "bptt"
    assert not calibration.cache_path().exists()


def test_several_replicas_use_the_cache_or_the_fixed_rule(calibrating, monkeypatch):
    monkeypatch.setattr(calibration, "_several_replicas", lambda: True)
    monkeypatch.setattr(calibration, "measure", lambda *a: pytest.fail("timed under a strategy"))
    assert Recurrent(LSTMCell(4)).training_path(8, 5, 3) == "bptt"


@pytest.mark.parametrize("setting, cell, want", [
    ("fixed", RNNCell(4), "bptt"), ("fixed", MinimalGRUCell(4), "hoisted"),
    ("loop", GRUCell(4), "loop"), ("hoisted", LSTMCell(4), "hoisted"),
    ("bptt", MinimalGRUCell(4), "hoisted"),  # no hand-written BPTT: the fixed rule
])
def test_the_environment_setting_overrides(setting, cell, want, calibrating, monkeypatch):
    monkeypatch.setenv(calibration.ENV, setting)
    monkeypatch.setattr(calibration, "measure", lambda *a: pytest.fail("timed although overridden"))
    assert Recurrent(cell).training_path(8, 5, 3) == want


def test_layer_arguments_override_calibration(calibrating, monkeypatch):
    monkeypatch.setattr(calibration, "measure", lambda *a: pytest.fail("timed although overridden"))
    assert Recurrent(GRUCell(4), fused_backward=True).training_path(8, 5, 3) == "bptt"
    assert Recurrent(GRUCell(4), hoist_inputs=False).training_path(8, 5, 3) == "loop"


def test_a_bad_setting_is_refused_in_one_line(monkeypatch):
    monkeypatch.setenv(calibration.ENV, "fastest")
    with pytest.raises(UserError, match="NLP_TASKS_RECURRENT_PATH='fastest' is not one of calibrate, fixed"):
        calibration.mode()


def _number(name):
    return int(name.rsplit("_", 1)[1]) if name.rsplit("_", 1)[-1].isdigit() else 0


def test_calibrating_leaves_the_random_state_and_layer_names_of_a_seeded_run_alone(calibrating):
    def seeded_run(calibrate_first):
        keras.utils.set_random_seed(3)
        probe = Recurrent(GRUCell(6), name="probe")
        before = Recurrent(GRUCell(2)).name
        if calibrate_first:
            calibration.measure(probe, calibration.PATHS, 4, 5, 3)
        after = Recurrent(GRUCell(2)).name
        assert _number(after) == _number(before) + 1  # calibration named every layer it made
        dense = keras.layers.Dense(3)
        dense.build((None, 2))
        return (dense.get_weights()[0], random.random(), np.random.random(),
                float(tf.random.uniform(())), float(keras.random.normal((), seed=None)))

    with_calibration, without = seeded_run(True), seeded_run(False)
    np.testing.assert_array_equal(with_calibration[0], without[0])
    assert with_calibration[1:] == without[1:]


def test_the_chosen_path_trains_to_the_same_function(calibrating, monkeypatch):
    """Whichever path calibration picks, a training step gives the same gradients (float64)."""
    rng = np.random.default_rng(4)
    x = tf.constant(rng.normal(size=(3, 5, 2)))
    grads = {}
    for path in calibration.PATHS:
        monkeypatch.setenv(calibration.ENV, path)
        keras.utils.set_random_seed(0)
        layer = Recurrent(LSTMCell(4, dtype="float64"), dtype="float64", return_sequences=True)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.sin(layer(x, training=True)))
        grads[path] = [g.numpy() for g in tape.gradient(loss, layer.trainable_variables)]
    for path in ("hoisted", "loop"):
        for got, want in zip(grads[path], grads["bptt"]):
            np.testing.assert_allclose(got, want, atol=1e-10, rtol=0)


def test_info_shows_the_setting_the_cache_and_what_it_holds(calibrating, monkeypatch, capsys):
    from nlp_tasks.cli import main as cli

    monkeypatch.setattr(calibration, "measure", lambda *a: {"bptt": 2.0, "hoisted": 3.0, "loop": 1.0})
    Recurrent(GRUCell(4)).training_path(8, 5, 3)
    assert cli.main(["info", "--json"]) == 0
    paths = json.loads(capsys.readouterr().out)["training_paths"]
    assert paths == {"mode": "calibrate", "cache": str(calibration.cache_path()), "cache_state": "ok", "measured": 1,
                     "gru": "loop"}


def test_info_says_whether_the_cache_is_absent_or_damaged(calibrating):
    assert calibration.summary()["cache_state"] == "absent"
    path = calibration.cache_path()
    path.parent.mkdir(parents=True)
    good = {"path": "loop", "ms": {"bptt": 2.0, "loop": 1.0}, "batch": 8, "steps": 5, "date": "2026-12-06T00:00+00:00"}
    nan = {**good, "ms": {"loop": float("nan")}}
    for entries, state, measured in [({"a": good}, "ok", 1), ({"a": good, "b": nan}, "damaged", 1),
                                     ({"a": {**good, "batch": 0}}, "damaged", 0)]:
        path.write_text(json.dumps({"version": calibration.CACHE_VERSION, "entries": entries}), encoding="utf-8")
        summary = calibration.summary()
        assert summary["cache_state"].startswith(state) and summary["measured"] == measured, (entries, summary)
