"""Checkpoints that survive a kill at any moment, and exact resumption of training.

At the end of every epoch :class:`Checkpointer` writes ``<out>/checkpoint/``::

    checkpoint/
      state.json   epochs done, the run's identity (config + data), history so far, and the
                   state of early stopping and the learning-rate schedule
      last.npz     every model variable (weights, dropout random-generator states) and every
                   optimizer variable (step, learning rate, Adam moments)
      best.npz     the model weights of the best epoch by the validation metric

The folder is written under a temporary name and renamed into place (see
:func:`nlp_tasks.outdir.replace_directory`), so a SIGKILL leaves the previous complete
checkpoint or the new one, never a mix. Arrays are stored with NumPy's ``.npz`` (no pickle;
loaded with ``allow_pickle=False``).

Re-running the same training on the same output folder restores all of it and continues with
the epoch that was interrupted. The data order of epoch k is a pure function of (seed, k) and
recurrent state is reset every epoch, so the resumed run computes what the uninterrupted run
would have computed; on CPU with op determinism the final weights are bit-identical (tested).
A finished run's checkpoint is marked complete: running the command again restores the final
weights instead of training again. A checkpoint of a different run (other config or data) is
refused with a message saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from nlp_tasks.errors import UserError
from nlp_tasks.outdir import recover, replace_directory

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
FORMAT = "nlp_tasks.checkpoint"
FILES = (STATE_FILE, "last.npz", "best.npz")  # everything a checkpoint folder holds


def _own_files(folder):
    return FILES


def _plain(value):
    """JSON for what ``json`` cannot write itself: NumPy scalars (Keras' callback state)."""
    return value.item() if isinstance(value, np.generic) else str(value)


def _save_arrays(path: Path, arrays) -> None:
    np.savez(path, **{f"a{i:05d}": np.asarray(a) for i, a in enumerate(arrays)})


def _load_arrays(path: Path) -> list[np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return [data[key] for key in sorted(data.files)]
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: unreadable checkpoint ({' '.join(str(err).split())[:200]})") from None


def _assign(variables, arrays, what: str, where: Path) -> None:
    if len(variables) != len(arrays):
        raise UserError(f"{where}: the checkpoint holds {len(arrays)} {what} arrays but the model has "
                        f"{len(variables)}; it belongs to another model (delete it to start over)")
    for variable, array in zip(variables, arrays):
        if tuple(variable.shape) != tuple(array.shape):
            raise UserError(f"{where}: {what} {variable.path} has shape {tuple(variable.shape)} but the checkpoint "
                            f"holds {tuple(array.shape)}; it belongs to another model (delete it to start over)")
        variable.assign(array)


class Checkpoint:
    """One run's checkpoint folder: read what is there, restore it into a model."""

    def __init__(self, out_dir: str | Path, key: dict, writable: bool = True):
        self.dir = Path(out_dir) / CHECKPOINT_DIR
        self.writable = writable  # False: read only (a non-chief worker of a multi-worker run)
        self.key = json.loads(json.dumps(key, default=str))  # as it will read back from JSON
        self.state: dict | None = None

    def load(self) -> dict | None:
        """The saved state of this run, None when there is none; refuses another run's."""
        if self.writable:  # a write that a kill interrupted is finished or undone
            recover(self.dir, own=_own_files, complete=STATE_FILE)
        path = self.dir / STATE_FILE
        if not path.is_file():
            return None
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise UserError(f"{path}: corrupt checkpoint description; delete {self.dir} to start over") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise UserError(f"{path}: not an nlp-tasks checkpoint; delete {self.dir} to start over")
        if state.get("key") != self.key:
            differs = sorted(k for k in set(self.key) | set(state.get("key") or {})
                             if self.key.get(k) != (state.get("key") or {}).get(k))
            raise UserError(f"{self.dir} holds a checkpoint of a different training run (differs in: "
                            f"{', '.join(differs) or 'everything'}); use another output folder or delete it "
                            "to start over")
        self.state = state
        return state

    def restore(self, model) -> None:
        """Model and optimizer variables from ``last.npz`` (the optimizer must be compiled in)."""
        arrays = _load_arrays(self.dir / "last.npz")
        n_model = self.state["model_arrays"]
        _assign(model.variables, arrays[:n_model], "model variable", self.dir)
        optimizer = model.optimizer
        if optimizer is not None and len(arrays) > n_model:
            if not optimizer.built:
                optimizer.build(model.trainable_variables)
            _assign(optimizer.variables, arrays[n_model:], "optimizer variable", self.dir)

    def best_weights(self) -> list[np.ndarray] | None:
        path = self.dir / "best.npz"
        return _load_arrays(path) if path.is_file() else None

    def write(self, model, state: dict, best_weights=None, best_changed: bool = True) -> None:
        """Write the whole folder under a temporary name, then rename it into place."""
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{CHECKPOINT_DIR}.", suffix=".tmp", dir=self.dir.parent))
        try:
            model_arrays = [v.numpy() for v in model.variables]
            optimizer = [v.numpy() for v in model.optimizer.variables] if model.optimizer is not None else []
            _save_arrays(tmp / "last.npz", model_arrays + optimizer)
            if best_weights is not None and (best_changed or not (self.dir / "best.npz").is_file()):
                _save_arrays(tmp / "best.npz", best_weights)
            elif (self.dir / "best.npz").is_file():
                try:
                    os.link(self.dir / "best.npz", tmp / "best.npz")  # unchanged: share the file
                except OSError:
                    shutil.copy2(self.dir / "best.npz", tmp / "best.npz")
            full = {"format": FORMAT, "key": self.key, "model_arrays": len(model_arrays), **state}
            # Python's json writes an infinite best (before any epoch) as Infinity and reads it back.
            (tmp / STATE_FILE).write_text(json.dumps(full, indent=1, default=_plain) + "\n", encoding="utf-8")
            replace_directory(tmp, self.dir, own=_own_files)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def fingerprint(*parts) -> str:
    """A short SHA-256 of training data (NumPy arrays, or anything JSON can write): a run's identity."""
    import hashlib

    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(str((part.dtype.str, part.shape)).encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:16]
