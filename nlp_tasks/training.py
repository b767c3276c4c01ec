"""One ``fit`` for every task: clipping, early stopping, stop on NaN, logs, checkpoints, resume.

Tasks build a Keras model and say how to train it (a :class:`TrainingPlan`: batches, loss,
validation) and call :func:`fit` with their :class:`~nlp_tasks.config.TrainSettings`; this
module knows nothing of what the model computes. What it does:

- compiles with Adam and gradient clipping by global norm (``clipnorm``, on by default: RNNs
  meet exploding gradients, Pascanu et al. 2013);
- stops with a clear :class:`TrainingDiverged` error naming the epoch and step when the loss
  becomes NaN or infinite, instead of training on garbage;
- with validation data, the best weights by a monitored validation metric are restored at the
  end, and training stops early after ``patience`` epochs without improvement;
- optionally, the learning rate decays by ``lr_decay`` when the monitored metric stalls;
- optionally (a plan's ``average_weights``), Polyak averaging: validation, the kept best weights
  and the saved model use an exponential moving average of the weights, not their last values;
- optionally (a plan's ``layer_rates``), a learning rate per layer group and gradual unfreezing
  (ULMFiT, :mod:`nlp_tasks.layer_rates`);
- with ``out_dir``: a CSV log of every epoch, a loss-curve PNG, and a checkpoint after every
  epoch from which a killed run resumes exactly (:mod:`nlp_tasks.saving.checkpoint`);
- shows progress on a ``stream`` (none: silent) one way for every task
  (:func:`nlp_tasks.progress.progress_callback`): a bar with ETA on a terminal, one plain line per epoch otherwise;
  a task's own validation metrics (NER's dev F1) appear on that line. Epochs are counted from 1
  everywhere (console, CSV log, summary).

Seeding is the caller's, once, before the model is built (the weights are drawn then):
:func:`nlp_tasks.runtime.set_seed`, as :meth:`nlp_tasks.pipeline.Pipeline.fit` does.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from nlp_tasks.config import TrainSettings
from nlp_tasks.errors import UserError
from nlp_tasks.runtime import import_tensorflow


@dataclasses.dataclass
class TrainingPlan:
    """How :func:`fit` trains: ``batches`` (what ``keras.Model.fit`` takes, or a
    :class:`nlp_tasks.batching.Batches` source), the ``loss`` and Keras ``metrics``; validation
    either as ``validation`` data for Keras or as ``validation_figures``, a function computing
    ``{name: value}`` after each epoch (a dev F1); any other Keras ``callbacks``;
    ``average_weights``: a momentum for Polyak averaging of the weights, None for none;
    ``layer_rates``: a :class:`nlp_tasks.layer_rates.LayerRates` (a learning rate per layer group,
    gradual unfreezing), None for one rate for every weight."""

    batches: Any
    loss: Any = None
    metrics: list = dataclasses.field(default_factory=list)
    validation: Any = None
    validation_figures: Any = None
    callbacks: list = dataclasses.field(default_factory=list)
    average_weights: float | None = None
    layer_rates: Any = None


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


def callback_base():
    """``keras.callbacks.Callback``, with TensorFlow imported quietly first: for task modules
    that define their callbacks when they are imported."""
    import_tensorflow()
    import keras

    return keras.callbacks.Callback


def make_optimizer(settings: TrainSettings, average_weights: float | None = None, model=None, layer_rates=None):
    """Adam with gradient clipping; with ``average_weights`` (a momentum in (0, 1)) it also keeps
    an exponential moving average of the weights (Keras' ``use_ema``), one of its variables; with
    ``layer_rates`` (and the ``model`` whose layers it names) each layer group's steps are scaled
    (:func:`nlp_tasks.layer_rates.grouped_adam`)."""
    import keras

    adam = {"learning_rate": settings.learning_rate, "global_clipnorm": settings.clipnorm}
    if average_weights is not None:
        adam.update(use_ema=True, ema_momentum=average_weights)
    if layer_rates is not None:
        from nlp_tasks.layer_rates import grouped_adam

        return grouped_adam(model, layer_rates, **adam)
    return keras.optimizers.Adam(**adam)


def _stop_on_nan_callback():
    import keras

    class StopOnNaN(keras.callbacks.Callback):
        """Raise TrainingDiverged at the first non-finite batch loss, naming epoch and step."""

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                raise TrainingDiverged(
                    f"training diverged: loss is {float(loss)} at epoch {self.epoch + 1}, step {batch + 1}; "
                    "lower the learning rate or the gradient-clipping norm"
                )

    return StopOnNaN()


def _figures_callback(compute):
    """Adds ``compute()``'s ``{name: value}`` to the logs at the end of every epoch (shown on the
    epoch's progress line, written to the CSV log, watched by early stopping)."""
    import keras

    def on_epoch_end(epoch, logs=None):
        figures = compute()
        if logs is not None:
            logs.update(figures)

    return keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)


def _csv_logger(path: Path, append: bool):
    """Keras' CSV log, with epochs counted from 1 like the console and ``pipeline.json``."""
    import keras

    class CSVLogger(keras.callbacks.CSVLogger):
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch + 1, logs)

    return CSVLogger(str(path), append=append)


def _epoch_callbacks(train):
    """For a :class:`~nlp_tasks.batching.Batches` source (its batches and their random draws are
    functions of the epoch), the callback that tells it which epoch starts; else nothing."""
    from nlp_tasks.batching import Batches

    return [train.epoch_callback()] if isinstance(train, Batches) else []


def _resumable_callbacks(state: dict | None, best_weights):
    """EarlyStopping and ReduceLROnPlateau that can take up where a killed run left off."""
    import keras

    saved = state or {}

    class EarlyStopping(keras.callbacks.EarlyStopping):
        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            if "early_stopping" in saved:
                vars(self).update(saved["early_stopping"])
                self.best_weights = best_weights

        def state(self):
            return {"wait": self.wait, "best": self.best, "best_epoch": self.best_epoch}

    class ReduceLROnPlateau(keras.callbacks.ReduceLROnPlateau):
        """Silent (``verbose=0``): a reduction is told on the epoch's own line (:meth:`note`),
        not on a line of Keras' own."""

        reduced_to = None

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            if "plateau" in saved:
                vars(self).update(saved["plateau"])

        def on_epoch_end(self, epoch, logs=None):
            before = self._rate()
            super().on_epoch_end(epoch, logs)
            after = self._rate()
            self.reduced_to = after if after < before else None

        def _rate(self) -> float:
            return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

        def note(self) -> str:
            return f"learning rate -> {self.reduced_to:.3g}" if self.reduced_to is not None else ""

        def state(self):
            return {"wait": self.wait, "best": self.best, "cooldown_counter": self.cooldown_counter}

    return EarlyStopping, ReduceLROnPlateau


def _checkpoint_callback(checkpoint, history: dict, early, plateau):
    import keras

    class Checkpointer(keras.callbacks.Callback):
        """Runs last: saves weights, optimizer and callback state after every epoch."""

        def _state(self, epochs_done, complete):
            state = {"epochs_done": epochs_done, "complete": complete, "history": history}
            if early is not None:
                state["early_stopping"] = early.state()
            if plateau is not None:
                state["plateau"] = plateau.state()
            return state

        def on_epoch_end(self, epoch, logs=None):
            for key, value in (logs or {}).items():
                history.setdefault(key, []).append(float(value))
            self.epochs_done = epoch + 1
            best = early.best_weights if early is not None else None
            changed = early is not None and early.best_epoch == epoch
            _write(checkpoint, self.model, self._state(epoch + 1, False), best, changed)

        def on_train_end(self, logs=None):  # after EarlyStopping restored the best weights
            done = getattr(self, "epochs_done", None)
            if done is not None:
                best = early.best_weights if early is not None else None
                _write(checkpoint, self.model, self._state(done, True), best, False)

    return Checkpointer()


def _write(checkpoint, model, state, best, changed) -> None:
    """Write the checkpoint; a full or read-only disk is one line, the last checkpoint kept."""
    try:
        checkpoint.write(model, state, best, best_changed=changed)
    except OSError as err:
        raise UserError(f"could not write the checkpoint in {checkpoint.dir}: {err.strerror or err}; the one "
                        f"of the previous epoch is kept: free space and run the same command again to resume") from None


def fit(model, plan: TrainingPlan, settings: TrainSettings, *, monitor: str = "val_loss", mode: str = "min",
        out_dir: str | Path | None = None, run=None, run_key: dict | None = None, stream=None,
        bar: bool = True, title: str | None = None) -> dict:
    """Compile ``model`` (when the plan has a ``loss``) and train it as ``plan`` says, with
    ``settings`` (epochs, batch size, learning rate, clipping, patience, decay); returns a
    summary dict (``epochs_run``, ``history``, and with validation ``best`` and ``best_epoch``).

    The plan's batches and validation are :class:`nlp_tasks.batching.Batches` sources (told which
    epoch starts, so a resumed run sees epoch k's batches) or whatever ``keras.Model.fit`` takes
    (a tf.data dataset). Early stopping watches ``monitor`` (``mode`` ``"min"`` or ``"max"``) and
    needs validation: the plan's ``validation`` data that Keras evaluates, or its
    ``validation_figures``, a function returning ``{name: value}`` (a dev F1, an exact validation
    loss) that runs at the end of every epoch and adds its figures to the epoch's logs. Without
    either, training runs all epochs. ``run``: the :class:`nlp_tasks.distribute.RunContext`
    (strategy, TensorBoard, chief; default :data:`~nlp_tasks.distribute.LOCAL`). ``stream``:
    where progress and notices go (None: nowhere); ``bar``: a bar on a terminal, else one line
    per epoch. The plan's ``average_weights``: a momentum in (0, 1) for Polyak averaging (an
    exponential moving average of the weights, updated every step, is what is validated, kept as
    the best weights and left in the model; needs a loss).

    With ``out_dir``: a CSV log, a loss-curve PNG (titled ``title``, else with the folder's name;
    the best epoch marked), and a checkpoint after every epoch
    (:mod:`nlp_tasks.saving.checkpoint`); the folder is claimed and locked while ``fit`` runs (a model or
    training folder: :data:`nlp_tasks.saving.layout.MODEL`), and released when it returns or
    raises unless the caller holds it (:func:`nlp_tasks.saving.outdir.held`). Calling ``fit`` again with
    the same ``out_dir``, settings and ``run_key`` (what else identifies the run: the task's
    config and data) continues a killed run from its last checkpoint, or restores a finished one
    without training again.
    """
    import_tensorflow()
    from nlp_tasks.distribute import LOCAL

    run = run or LOCAL
    with run.scope():
        _compile(model, plan, settings, run)
        # Under multi-worker training only the chief writes; the other workers read its checkpoint.
        writes = out_dir is not None and run.chief
        if not writes:
            return _train(model, plan, settings, monitor, mode, out_dir, run, run_key, writes, stream, bar, title)
        from nlp_tasks.saving import outdir
        from nlp_tasks.saving.layout import MODEL

        # Checked, locked for this run and marked as ours before any epoch; the lock is released
        # when the run ends unless an enclosing scope holds it (Pipeline.train, until its save).
        with outdir.held(out_dir, kind=MODEL) as out_dir:
            return _train(model, plan, settings, monitor, mode, out_dir, run, run_key, writes, stream, bar, title)


def _compile(model, plan: TrainingPlan, settings: TrainSettings, run) -> None:
    import keras

    from nlp_tasks import distribute

    if plan.loss is not None:
        # Metric objects made by the caller outside the strategy's scope would keep plain
        # variables: one per worker under multi-worker training, so each worker would report
        # only its own share. Remade here, inside the scope, their variables are the strategy's.
        metrics = [type(m).from_config(m.get_config()) if isinstance(m, keras.metrics.Metric) else m
                   for m in plan.metrics or []]
        # No XLA: Keras' default ("auto") would compile whenever op determinism is off, and with
        # length-bucketed batches every batch shape is a new compilation (benchmarks/NOTES.md).
        optimizer = make_optimizer(settings, plan.average_weights, model, plan.layer_rates)
        model.compile(optimizer=optimizer, loss=plan.loss, metrics=metrics, jit_compile=False)
    elif plan.average_weights is not None or plan.layer_rates is not None:
        raise ValueError("fit: average_weights and layer_rates need a loss (the optimizer is made here)")
    distribute.prepare_model(model, run)


def _say(stream, text: str) -> None:
    if stream is not None:
        print(text, file=stream, flush=True)


def _train(model, plan: TrainingPlan, settings: TrainSettings, monitor, mode, out_dir, run, run_key, writes,
           stream, bar, title=None) -> dict:
    import keras

    from nlp_tasks.batching import as_dataset
    from nlp_tasks.saving.checkpoint import Checkpoint

    training_key = {f.name: getattr(settings, f.name) for f in dataclasses.fields(TrainSettings)}
    checkpoint = (Checkpoint(out_dir, {"training": training_key, **(run_key or {})}, writable=writes)
                  if out_dir else None)
    state = checkpoint.load() if checkpoint is not None else None
    done, history = 0, {}
    if state is not None:
        checkpoint.restore(model)
        done, history = int(state["epochs_done"]), state["history"]
        if state.get("complete"):
            _say(stream, f"training already complete in {checkpoint.dir} ({done} epochs): restored its final "
                         f"weights (delete {checkpoint.dir} to train again)")
            return _summary(history, monitor, mode, resumed_from=done)
        if checkpoint.extended_from is not None:
            _say(stream, f"training on from {checkpoint.dir}: {done} epochs done (a run of "
                         f"{checkpoint.extended_from}), {settings.epochs} now")
        else:
            _say(stream, f"resuming from {checkpoint.dir}: {done} of {settings.epochs} epochs done")
    # Task callbacks run first, so metrics they add to the epoch logs (a dev F1, say) can be
    # monitored by early stopping and written to the CSV log.
    callbacks = list(plan.callbacks)
    if plan.validation_figures is not None:
        callbacks = [_figures_callback(plan.validation_figures), *callbacks]
    if plan.average_weights is not None:  # before the rest: validation and every later callback see the averages
        from nlp_tasks._keras_compat import swap_averaged_weights

        callbacks = [swap_averaged_weights(), *callbacks]
    if plan.layer_rates is not None:  # each epoch's group scales (gradual unfreezing)
        from nlp_tasks.layer_rates import unfreezing_callback

        callbacks = [unfreezing_callback(plan.layer_rates), *callbacks]
    cbs = [_stop_on_nan_callback(), *_epoch_callbacks(plan.batches), *callbacks]
    early = plateau = None
    if plan.validation is not None or plan.validation_figures is not None:
        EarlyStopping, ReduceLROnPlateau = _resumable_callbacks(state, checkpoint.best_weights() if state else None)
        # Keeps the best weights by the monitored metric (restored at the end); stops early after
        # `patience` epochs without improvement, or never when patience is None.
        patience = settings.patience if settings.patience is not None else settings.epochs
        early = EarlyStopping(monitor=monitor, mode=mode, patience=patience, restore_best_weights=True)
        cbs.append(early)
        if settings.lr_decay is not None:
            plateau = ReduceLROnPlateau(monitor=monitor, mode=mode, factor=settings.lr_decay,
                                        patience=settings.lr_patience, verbose=0)
            cbs.append(plateau)
    if stream is not None:  # after the task's callbacks and the plateau's: their figures are on the epoch's line
        from nlp_tasks.progress import progress_callback

        cbs.append(progress_callback(stream, bar, note=plateau.note if plateau is not None else None))
    if writes:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        cbs.append(_csv_logger(Path(out_dir) / "training-log.csv", append=state is not None))
        if run.tensorboard:
            cbs.append(keras.callbacks.TensorBoard(log_dir=str(Path(out_dir) / "tensorboard")))
        cbs.append(_checkpoint_callback(checkpoint, history, early, plateau))
    # Shuffling belongs to the batch source (a pure function of the seed and epoch), not to fit().
    # Under multi-worker training each worker makes only its own rows of every batch (as_dataset).
    result = model.fit(as_dataset(plan.batches, run), validation_data=as_dataset(plan.validation, run),
                       epochs=settings.epochs, callbacks=cbs, verbose=0, shuffle=False, initial_epoch=done)
    if not writes:  # the checkpoint callback did not collect it: this run's epochs after the restored ones
        history = {k: list(history.get(k, [])) + [float(v) for v in values] for k, values in result.history.items()}
    if writes and history:
        from nlp_tasks.plots import plot_training_curves

        plot_training_curves(history, Path(out_dir) / "training-curves.png", monitor=monitor, mode=mode,
                             title=title or f"training curves: {Path(out_dir).resolve().name}")
    return _summary(history, monitor, mode, resumed_from=done)


def _summary(history: dict, monitor: str, mode: str, resumed_from: int = 0) -> dict:
    summary = {"epochs_run": len(next(iter(history.values()), [])), "history": history}
    if resumed_from:
        summary["resumed_from_epoch"] = resumed_from
    if history.get(monitor):
        pick = min if mode == "min" else max
        best = pick(history[monitor])
        summary.update(best_epoch=history[monitor].index(best) + 1, best=best, monitor=monitor)
    return summary
