"""Training progress on a stream, one way for every task: a bar with ETA on a terminal, one plain
line per epoch anywhere else (:func:`progress_callback`, used by :func:`nlp_tasks.training.fit`)."""

from __future__ import annotations

import time


def format_logs(logs: dict) -> str:
    """``loss 0.4321  val_loss 0.5012  val_f1 0.8123``: an epoch's figures on one line."""
    return "  ".join(f"{key} {float(value):.4f}" for key, value in (logs or {}).items()
                     if key != "learning_rate")


def progress_callback(stream, bar: bool = True, note=None):
    """The progress display of :func:`fit` on ``stream``: one per run, after the callbacks that
    add metrics.

    A bar with steps, ETA and the running loss, redrawn in place, when ``bar`` and the stream is
    a terminal; otherwise one plain line per epoch (no carriage returns, no colour codes). Either
    way each epoch ends with one line: its number, its time and every figure in its logs, then
    ``note()`` when it says something (the learning rate's reduction at that epoch's end).
    """
    import keras

    class Progress(keras.callbacks.Callback):
        interval = 0.1  # seconds between redraws of the bar

        def on_train_begin(self, logs=None):
            self.stream = stream
            isatty = getattr(self.stream, "isatty", None)
            self.bar = bar and bool(isatty and isatty())
            self.steps = (self.params or {}).get("steps")  # None for generators: learnt in epoch 1
            self.epochs = (self.params or {}).get("epochs")

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.start, self.drawn, self.width = epoch, time.perf_counter(), 0.0, 0

        def on_train_batch_end(self, batch, logs=None):
            self.seen = batch + 1
            now = time.perf_counter()
            if not self.bar or (now - self.drawn < self.interval and self.seen != self.steps):
                return  # the first and the last step are always drawn
            self.drawn, elapsed = now, now - self.start
            loss = (logs or {}).get("loss")
            figures = f"  loss {float(loss):.4f}" if loss is not None else ""
            if self.steps:
                done = min(self.seen / self.steps, 1.0)
                bar = "=" * int(20 * done) + ">" + "." * (20 - int(20 * done))
                eta = elapsed / self.seen * max(self.steps - self.seen, 0)
                text = f"epoch {self.epoch + 1}/{self.epochs} [{bar[:21]}] {self.seen}/{self.steps}  ETA {eta:.0f}s"
            else:
                text = f"epoch {self.epoch + 1}/{self.epochs}  step {self.seen}  {elapsed:.0f}s"
            self._draw(text + figures)

        def _draw(self, text):
            self.stream.write("\r" + text.ljust(self.width))
            self.stream.flush()
            self.width = len(text)

        def on_epoch_end(self, epoch, logs=None):
            if self.steps is None and getattr(self, "seen", None):
                self.steps = self.seen
            line = f"epoch {epoch + 1}/{self.epochs}  {time.perf_counter() - self.start:.1f}s  {format_logs(logs)}"
            told = note() if note is not None else ""
            line = f"{line.rstrip()}  ({told})" if told else line
            if self.bar and self.width:  # the summary replaces the bar, on a line of its own
                self.stream.write("\r" + " " * self.width + "\r")
            self.stream.write(line.rstrip() + "\n")
            self.stream.flush()

    return Progress()
