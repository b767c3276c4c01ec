"""One ``fit`` for every task: seeds, gradient clipping, early stopping, stop on NaN, CSV log.

Tasks build a compiled-ready Keras model and tf.data datasets and call :func:`fit`; this module
knows nothing of what the model computes. What it does:

- seeds Python, NumPy and TensorFlow from ``TrainConfig.seed`` (and turns on op determinism
  when ``deterministic``), so the same command gives the same weights on CPU;
- compiles with Adam and gradient clipping by global norm (``clipnorm``, on by default: RNNs
  meet exploding gradients, Pascanu et al. 2013);
- stops with a clear :class:`TrainingDiverged` error naming the epoch and step when the loss
  becomes NaN or infinite, instead of training on garbage;
- with validation data, the best weights by a monitored validation metric are restored at the
  end, and training stops early after ``patience`` epochs without improvement;
- optionally, the learning rate decays by ``lr_decay`` when the monitored metric stalls;
- a CSV log of every epoch in ``out_dir`` when one is given.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from nlp_tasks.config import Config
from nlp_tasks.errors import UserError
from nlp_tasks.runtime import import_tensorflow, set_seed


@dataclasses.dataclass(frozen=True)
class TrainConfig(Config):
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    clipnorm: float | None = 5.0  # global-norm gradient clipping; None turns it off
    patience: int | None = 3  # epochs without improvement before stopping; None: never stop early
    lr_decay: float | None = None  # multiply the learning rate by this when the monitor stalls
    lr_patience: int = 1  # epochs without improvement before the learning rate is decayed
    seed: int = 0
    deterministic: bool = True
    verbose: int = 1  # Keras progress bars: 0 silent, 1 bar, 2 one line per epoch

    def __post_init__(self):
        checks = [
            ("epochs", self.epochs >= 1, "must be >= 1"),
            ("batch_size", self.batch_size >= 1, "must be >= 1"),
            ("learning_rate", self.learning_rate > 0 and math.isfinite(self.learning_rate), "must be positive"),
            ("clipnorm", self.clipnorm is None or self.clipnorm > 0, "must be positive (None turns clipping off)"),
            ("patience", self.patience is None or self.patience >= 0, "must be >= 0"),
            ("seed", self.seed >= 0, "must be >= 0"),
            ("lr_decay", self.lr_decay is None or 0 < self.lr_decay < 1, "must be in (0, 1) (None: no decay)"),
            ("lr_patience", self.lr_patience >= 0, "must be >= 0"),
            ("verbose", self.verbose in (0, 1, 2), "must be 0, 1 or 2"),
        ]
        for name, ok, message in checks:
            if not ok:
                raise UserError(f"{name} {message}, got {getattr(self, name)!r}")


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


def make_optimizer(config: TrainConfig):
    import keras

    return keras.optimizers.Adam(learning_rate=config.learning_rate, global_clipnorm=config.clipnorm)


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


def fit(model, train, validation=None, config: TrainConfig | None = None, loss=None, metrics=None,
        monitor: str = "val_loss", mode: str = "min", out_dir: str | Path | None = None,
        callbacks=()) -> dict:
    """Compile ``model`` (when ``loss`` is given) and train it; returns a summary dict.

    ``train`` and ``validation`` are whatever ``keras.Model.fit`` takes (tf.data datasets,
    typically). Seed before building the model too (:func:`nlp_tasks.runtime.set_seed`): the
    weights are drawn when it is built. Early stopping watches ``monitor`` (``mode`` ``"min"`` or ``"max"``) and needs
    validation data; without it training runs all epochs.
    """
    config = config or TrainConfig()
    import_tensorflow()
    import keras

    set_seed(config.seed, deterministic=config.deterministic)
    if loss is not None:
        model.compile(optimizer=make_optimizer(config), loss=loss, metrics=metrics or [])
    # Task callbacks run first, so metrics they add to the epoch logs (a dev F1, say) can be
    # monitored by early stopping and written to the CSV log.
    cbs = [_stop_on_nan_callback(), *callbacks]
    if validation is not None or any(getattr(cb, "provides_validation", False) for cb in callbacks):
        # Keeps the best weights by the monitored metric (restored at the end); stops early after
        # `patience` epochs without improvement, or never when patience is None.
        patience = config.patience if config.patience is not None else config.epochs
        cbs.append(keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience,
                                                 restore_best_weights=True))
        if config.lr_decay is not None:
            cbs.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=mode, factor=config.lr_decay,
                                                         patience=config.lr_patience, verbose=config.verbose))
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        cbs.append(keras.callbacks.CSVLogger(str(Path(out_dir) / "training-log.csv")))
    # Shuffling belongs to the tf.data pipeline (a pure function of the seed), not to fit().
    history = model.fit(train, validation_data=validation, epochs=config.epochs, callbacks=cbs,
                        verbose=config.verbose, shuffle=False)
    logs = {k: [float(v) for v in values] for k, values in history.history.items()}
    summary = {"epochs_run": len(next(iter(logs.values()), [])), "history": logs}
    if monitor in logs and logs[monitor]:
        pick = min if mode == "min" else max
        best = pick(logs[monitor])
        summary.update(best_epoch=logs[monitor].index(best) + 1, best=best, monitor=monitor)
    return summary
