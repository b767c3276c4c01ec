"""The shared fit(): learning, reproducibility, stopping on NaN, early stopping, CSV log."""

from __future__ import annotations

import io
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_tasks.config import TrainSettings
from nlp_tasks.errors import UserError
from nlp_tasks.layers import recurrent
from nlp_tasks.training import TrainingDiverged, TrainingPlan, fit
from tests.toy_pipeline import TOY_DATA, ToyConfig, ToyPipeline


def counting_data(n=64, T=6, seed=0):
    """Is the running sum of a ±1 sequence positive at the end? Needs memory across steps."""
    rng = np.random.default_rng(seed)
    x = rng.choice([-1.0, 1.0], size=(n, T, 1)).astype("float32")
    y = (x.sum(axis=(1, 2)) > 0).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


def train(model, data, validation=None, stream=None, bar=True, **settings):
    """``fit`` of ``model`` on ``data`` with binary cross-entropy and ``settings``."""
    return fit(model, TrainingPlan(data, loss="binary_crossentropy", validation=validation),
               TrainSettings(**settings), stream=stream, bar=bar)


def small_model(kind="gru"):
    inputs = keras.Input((None, 1))
    x = recurrent(kind, 8)(inputs)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))


@pytest.mark.parametrize("kind", ["rnn", "gru", "mingru", "lstm"])
def test_training_lowers_the_loss(kind):
    summary = train(small_model(kind), counting_data(), epochs=8, learning_rate=0.02)
    losses = summary["history"]["loss"]
    assert summary["epochs_run"] == 8 and losses[-1] < 0.8 * losses[0]


def test_same_seed_gives_identical_weights():
    runs = []
    for _ in range(2):
        pipe = ToyPipeline(ToyConfig(epochs=2, seed=7))
        pipe.fit(TOY_DATA)
        runs.append([w.copy() for w in pipe.model.get_weights()])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    other = ToyPipeline(ToyConfig(epochs=2, seed=8))
    other.fit(TOY_DATA)
    assert not all(np.array_equal(a, b) for a, b in zip(runs[0], other.model.get_weights()))


def test_toy_pipeline_learns_its_task():
    pipe = ToyPipeline(ToyConfig(epochs=30))
    pipe.fit(TOY_DATA)
    assert pipe.evaluate(TOY_DATA)["accuracy"] >= 0.875


def test_nan_loss_stops_with_epoch_and_step():
    x = np.ones((8, 3, 1), dtype="float32")
    x[5] = np.nan
    data = tf.data.Dataset.from_tensor_slices((x, np.ones(8, dtype="float32"))).batch(2)
    with pytest.raises(TrainingDiverged, match=r"loss is nan at epoch 1, step 3"):
        train(small_model(), data, epochs=2)


def test_early_stopping_and_csv_log(tmp_path):
    data = counting_data()
    flipped = data.map(lambda x, y: (x, 1.0 - y))  # learning the task makes this loss grow
    summary = fit(small_model(), TrainingPlan(data, loss="binary_crossentropy", validation=flipped),
                  TrainSettings(epochs=30, learning_rate=0.05, patience=1), out_dir=tmp_path)
    assert summary["epochs_run"] < 30 and summary["monitor"] == "val_loss"
    lines = (tmp_path / "training-log.csv").read_text().splitlines()
    assert lines[0].startswith("epoch") and len(lines) == summary["epochs_run"] + 1
    # Epochs counted from 1, as on the console and in pipeline.json.
    assert [line.split(",")[0] for line in lines[1:]] == [str(e) for e in range(1, summary["epochs_run"] + 1)]


def test_gradient_clipping_is_on_by_default():
    from nlp_tasks.training import make_optimizer

    assert make_optimizer(TrainSettings()).global_clipnorm == 5.0
    assert make_optimizer(TrainSettings(clipnorm=None)).global_clipnorm is None


@pytest.mark.parametrize("field, value", [("epochs", 0), ("learning_rate", -1.0), ("clipnorm", 0.0),
                                          ("patience", -1)])
def test_bad_training_options_are_refused(field, value):
    with pytest.raises(UserError, match=field):
        TrainSettings(**{field: value})


def test_learning_rate_decays_when_the_monitor_stalls():
    data = counting_data()
    flipped = data.map(lambda x, y: (x, 1.0 - y))
    model = small_model()
    train(model, data, validation=flipped, epochs=4, learning_rate=0.05, patience=None, lr_decay=0.5, lr_patience=0)
    assert float(model.optimizer.learning_rate) < 0.05


def test_a_learning_rate_reduction_is_told_on_the_epochs_own_line(capsys):
    data = counting_data()
    shown = io.StringIO()
    model = small_model()
    train(model, data, validation=data.map(lambda x, y: (x, 1.0 - y)), stream=shown, epochs=3, learning_rate=0.05,
          patience=None, lr_decay=0.5, lr_patience=0)
    lines = shown.getvalue().splitlines()
    assert len(lines) == 3 and all(line.startswith(f"epoch {n}/3  ") for n, line in enumerate(lines, 1)), lines
    told = [line for line in lines if line.endswith(")")]
    assert told and all(re.search(r"  \(learning rate -> 0\.0\d+\)$", line) for line in told), lines
    assert float(model.optimizer.learning_rate) < 0.05
    assert "ReduceLROnPlateau" not in "".join(capsys.readouterr())  # Keras' own line, not ours


def test_training_without_determinism_does_not_turn_on_xla(monkeypatch):
    from nlp_tasks import _keras_compat

    model = small_model()
    # Keras' jit_compile="auto" means XLA on a machine with a GPU and without op determinism:
    # pretend to be one.
    monkeypatch.setattr(model, _keras_compat.AUTO_JIT_COMPILE, lambda: True)
    _keras_compat.disable_op_determinism()
    try:
        train(model, counting_data(), epochs=1, deterministic=False)
    finally:
        tf.config.experimental.enable_op_determinism()
    assert model.jit_compile is False


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


EPOCH_LINE = re.compile(r"^epoch (\d+)/2  \d+\.\ds  loss \d+\.\d{4}  val_loss \d+\.\d{4}$")


def _train_showing_progress(stream, bar=True):
    data = counting_data()
    train(small_model(), data, validation=data, stream=stream, bar=bar, epochs=2, patience=None)
    return stream.getvalue() if stream is not None else ""


def test_progress_in_a_pipe_is_one_plain_line_per_epoch(monkeypatch):
    text = _train_showing_progress(io.StringIO())
    assert "\r" not in text and "\x1b" not in text and "\b" not in text
    lines = text.splitlines()
    assert [EPOCH_LINE.match(line).group(1) for line in lines] == ["1", "2"], text


def test_progress_on_a_terminal_is_a_bar_with_eta_then_the_epoch_line(monkeypatch):
    text = _train_showing_progress(FakeTerminal())
    assert "ETA" in text and "[" in text and "4/4" in text  # 64 examples in batches of 16
    # Each epoch ends with its line: the bar is wiped, and the validation figures are not glued to it.
    finished = [segment.split("\r")[-1] for segment in text.split("\n")[:-1]]
    assert [EPOCH_LINE.match(line).group(1) for line in finished] == ["1", "2"], text
    # bar=False: plain lines even on a terminal.
    plain = _train_showing_progress(FakeTerminal(), bar=False)
    assert "\r" not in plain and len(plain.splitlines()) == 2


def test_quiet_training_prints_nothing(capsys):
    _train_showing_progress(None)
    assert capsys.readouterr() == ("", "")


def test_output_settings_do_not_block_a_resume(tmp_path):
    data = counting_data()
    plan = TrainingPlan(data, loss="binary_crossentropy", validation=data)
    fit(small_model(), plan, TrainSettings(epochs=1), out_dir=tmp_path)
    shown = io.StringIO()
    summary = fit(small_model(), plan, TrainSettings(epochs=1), out_dir=tmp_path, stream=shown)
    assert "training already complete" in shown.getvalue() and summary["resumed_from_epoch"] == 1
    with pytest.raises(UserError, match="different"):  # what the run computes still counts
        fit(small_model(), plan, TrainSettings(epochs=1, seed=3), out_dir=tmp_path)


def test_a_finished_run_trains_on_when_asked_for_more_epochs(tmp_path):
    """Issue 35 item 7: more epochs into the folder of a finished run continue it from its last
    checkpoint (as Keras' initial_epoch does) instead of refusing the changed epoch count."""
    data = counting_data()
    plan = TrainingPlan(data, loss="binary_crossentropy", validation=data)
    first = fit(small_model(), plan, TrainSettings(epochs=2, patience=None), out_dir=tmp_path)
    shown = io.StringIO()
    more = fit(small_model(), plan, TrainSettings(epochs=4, patience=None), out_dir=tmp_path, stream=shown)
    assert "training on from" in shown.getvalue() and "2 epochs done (a run of 2), 4 now" in shown.getvalue()
    assert more["resumed_from_epoch"] == 2 and more["epochs_run"] == 4
    assert more["history"]["loss"][:2] == first["history"]["loss"]
    again = io.StringIO()  # the extended run is now the folder's run: complete at 4
    fit(small_model(), plan, TrainSettings(epochs=4, patience=None), out_dir=tmp_path, stream=again)
    assert "training already complete" in again.getvalue()
    for fewer_or_other in (TrainSettings(epochs=3, patience=None), TrainSettings(epochs=6, patience=None, seed=5)):
        with pytest.raises(UserError, match="different training run"):
            fit(small_model(), plan, fewer_or_other, out_dir=tmp_path)


def test_training_curves_have_a_title_and_whole_epoch_ticks(tmp_path, monkeypatch):
    from nlp_tasks import plots

    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig) or path)
    plots.plot_training_curves({"loss": [0.9, 0.7, 0.6], "val_loss": [1.0, 0.8, 0.75], "val_f1": [0.1, 0.3, 0.4]},
                                 tmp_path / "c.png", monitor="val_f1", title="training curves: conll")
    fig = figures[0]
    fig.canvas.draw()
    assert fig._suptitle.get_text() == "training curves: conll"
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_training_curves_mark_the_best_epoch(tmp_path, monkeypatch):
    """Issue 35 item 9: the best epoch by the monitor (its mode) is marked in every panel (a
    pipeline's plot is titled with its task: tests/tasks/ner/test_ner.py)."""
    from nlp_tasks import plots

    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig) or path)
    history = {"loss": [0.9, 0.7, 0.6, 0.5], "val_loss": [1.0, 0.8, 0.75, 0.9], "val_f1": [0.1, 0.5, 0.4, 0.3]}
    plots.plot_training_curves(history, tmp_path / "c.png", monitor="val_f1", mode="max")
    plots.plot_training_curves(history, tmp_path / "d.png", monitor="val_loss", mode="min")
    for fig, best in zip(figures, (2, 3)):
        marks = [line for ax in fig.axes for line in ax.get_lines() if line.get_label() == f"best epoch ({best})"]
        assert len(marks) == len(fig.axes) and all(list(m.get_xdata()) == [best, best] for m in marks)


def test_a_checkpoint_written_before_the_settings_moved_still_matches():
    """Older run identities hold training.verbose, and a task config without the training
    settings it did not declare then (lr_patience, deterministic): the same run, still resumed."""
    from nlp_tasks.saving.checkpoint import _without_output_settings

    training = {**TrainSettings().to_dict(), "verbose": 0}
    new = {"training": {k: v for k, v in training.items() if k != "verbose"},
           "task": "sentiment", "config": {"units": 8, **{k: v for k, v in training.items() if k != "verbose"}}}
    old = {"training": training, "task": "sentiment",
           "config": {"units": 8, "epochs": 10, "batch_size": 32, "learning_rate": 1e-3, "clipnorm": 5.0,
                      "patience": 3, "seed": 0}}
    assert _without_output_settings(old) == new
    other = {**old, "config": {**old["config"], "units": 9}}
    assert _without_output_settings(other) != new
