"""Checkpoints that survive a kill at any moment, and exact resumption of training.

At the end of every epoch :class:`Checkpointer` writes ``<out>/checkpoint/``::

    checkpoint/
      state.json   epochs done, the run's identity (config + data), history so far, and the
                   state of early stopping and the learning-rate schedule
      last.npz     every model variable (weights, dropout random-generator states) and every
                   optimizer variable (step, learning rate, Adam moments)
      best.npz     the model weights of the best epoch by the validation metric

The folder is written under a temporary name and renamed into place (see
:func:`nlp_tasks.saving.outdir.replace_directory`), so a SIGKILL leaves the previous complete
checkpoint or the new one, never a mix. Arrays are stored with NumPy's ``.npz`` (no pickle;
loaded with ``allow_pickle=False``).

Re-running the same training on the same output folder restores all of it and continues with
the epoch that was interrupted. The data order of epoch k and every random draw made while
building its batches are pure functions of (seed, k) (:class:`nlp_tasks.batching.Batches`),
the dropout layers' generator states are model variables (saved in ``last.npz``), and recurrent
state is reset every epoch, so the resumed run computes what the uninterrupted run would have
computed; on CPU with op determinism the final weights are bit-identical (tested for every task).
A finished run's checkpoint is marked complete: running the command again restores the final
weights instead of training again. A checkpoint of a different run (other config or data) is
refused with a message saying so.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from nlp_tasks.errors import UserError
from nlp_tasks.io.safe_files import parse_json
from nlp_tasks.saving.outdir import FolderKind, json_format, recover, replace_directory

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
FORMAT = "nlp_tasks.checkpoint"
FILES = (STATE_FILE, "last.npz", "best.npz")  # everything a checkpoint folder holds
MAX_STATE_BYTES = 256 * 2**20  # epochs, history and callback state: kilobytes in practice


def _own_files(folder):
    return FILES


def is_checkpoint(folder: Path) -> bool:
    """True for a checkpoint folder nlp-tasks wrote (its ``state.json`` is ours)."""
    return json_format(Path(folder) / STATE_FILE) == FORMAT


# What a checkpoint folder holds (nlp_tasks.saving.outdir): its files, state.json written last.
KIND = FolderKind(complete=STATE_FILE, own=_own_files, writes=FILES.__contains__, marks=is_checkpoint)


def _without_output_settings(key):
    """A saved run identity in today's form. Checkpoints written before the progress display
    changed still hold ``training.verbose`` (how a run prints is not what it computes), and
    before task configs inherited every training setting (nlp_tasks.config.TrainSettings) their
    ``config`` lacked some (``lr_patience``, say) that ``training`` held: those are copied over."""
    if not isinstance(key, dict) or not isinstance(key.get("training"), dict):
        return key
    training = {k: v for k, v in key["training"].items() if k != "verbose"}
    key = {**key, "training": training}
    if isinstance(key.get("config"), dict) and "seed" in key["config"]:  # a task config: it has the seed
        key["config"] = {**{k: v for k, v in training.items() if k not in key["config"]}, **key["config"]}
    return key


def _differences(want: dict, saved: dict, prefix: str = "", depth: int = 2) -> list[str]:
    """The dotted names of the fields where two run identities differ (``config.units``)."""
    out = []
    for name in sorted(set(want) | set(saved), key=str):
        a, b = want.get(name), saved.get(name)
        if a == b:
            continue
        if depth > 1 and isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{name}.", depth - 1) or [f"{prefix}{name}"]
        else:
            out.append(f"{prefix}{name}")
    return out


def _plain(value):
    """JSON for what ``json`` cannot write itself: NumPy scalars (Keras' callback state)."""
    return value.item() if isinstance(value, np.generic) else str(value)


def _save_arrays(path: Path, arrays) -> None:
    np.savez(path, **{f"a{i:05d}": np.asarray(a) for i, a in enumerate(arrays)})


class _Damaged(ValueError):
    """A checkpoint member that is not an array of numbers."""


NUMBER_KINDS = "biuf"  # NumPy dtype kinds of model and optimizer variables: bool, integers, floats


def _load_arrays(path: Path) -> list[np.ndarray]:
    """The arrays of a ``.npz`` file written by :func:`_save_arrays`, in order; a truncated,
    garbage or foreign file (or one whose members would inflate far beyond the file), or a
    member that is not an array of numbers (:func:`_read_member`), is a :class:`UserError`."""
    from nlp_tasks.io.files import check_file

    check_file(path, "a checkpoint file")  # a FIFO in its place would block the read
    delete = f"; delete {path.parent} to start over"
    try:
        if not zipfile.is_zipfile(path):
            raise ValueError("not a NumPy .npz archive: truncated or corrupt")
        with zipfile.ZipFile(path) as archive:
            if sum(info.file_size for info in archive.infolist()) > 100 * path.stat().st_size + 2**20:
                raise ValueError("its arrays would inflate to far more than the file holds")
            names = sorted(archive.namelist())
            if names != [f"a{i:05d}.npy" for i in range(len(names))]:
                raise ValueError("it holds arrays this checkpoint format never writes")
            arrays = [_read_member(archive, name) for name in names]
    except _Damaged as err:
        raise UserError(f"{path}: damaged checkpoint ({err}){delete}") from None
    except (OSError, ValueError, EOFError, KeyError, RuntimeError, NotImplementedError, zipfile.BadZipFile) as err:
        raise UserError(f"{path}: unreadable checkpoint ({' '.join(str(err).split())[:200]}){delete}") from None
    return arrays


def _read_member(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    """One ``.npy`` member of a checkpoint archive. Its header is read first, and its data only
    when the header declares numbers (:data:`NUMBER_KINDS`) of a shape the member's bytes hold:
    a pickle (an object array or a bare one), text, anything else, or a shape that would
    allocate more than is stored, is refused before a byte of data is interpreted."""
    from numpy.lib import format as npy

    headers = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
    with archive.open(name) as handle:
        try:
            version = npy.read_magic(handle)
            shape, _, dtype = headers[version](handle)
        except (ValueError, TypeError, KeyError, EOFError):
            raise _Damaged(f"{name} is not a NumPy array") from None
        if dtype.kind not in NUMBER_KINDS:
            raise _Damaged(f"{name} holds {dtype} values, not numbers")
        stored = archive.getinfo(name).file_size - handle.tell()
        if math.prod(shape) * dtype.itemsize != stored:
            raise _Damaged(f"{name} claims shape {shape} of {dtype} but stores {stored} bytes of values")
        handle.seek(0)
        return npy.read_array(handle, allow_pickle=False)


def _check(variables, arrays, what: str, where: Path) -> None:
    """A :class:`UserError` unless ``arrays`` match ``variables`` one to one, in shape and in
    kind of number (a float array is never cast into an integer variable)."""
    if len(variables) != len(arrays):
        raise UserError(f"{where}: the checkpoint holds {len(arrays)} {what} arrays but the model has "
                        f"{len(variables)}; it belongs to another model (delete it to start over)")
    for variable, array in zip(variables, arrays):
        if tuple(variable.shape) != tuple(array.shape):
            raise UserError(f"{where}: {what} {variable.path} has shape {tuple(variable.shape)} but the checkpoint "
                            f"holds {tuple(array.shape)}; it belongs to another model (delete it to start over)")
        if not _castable(array.dtype, variable.dtype):
            raise UserError(f"{where}: damaged checkpoint ({what} {variable.path} is {variable.dtype} but the "
                            f"checkpoint holds {array.dtype}); delete it to start over")


def _castable(saved: np.dtype, wanted) -> bool:
    try:
        return bool(np.can_cast(saved, np.dtype(wanted), casting="same_kind"))
    except TypeError:  # a dtype NumPy does not know (bfloat16 without ml_dtypes): Keras converts it
        return True


def _assign(variables, arrays, what: str, where: Path) -> None:
    _check(variables, arrays, what, where)  # all of them before any is changed
    for variable, array in zip(variables, arrays):
        variable.assign(array)


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _state_problem(state: dict, key: dict) -> str | None:
    """What is wrong with the fields of a ``state.json`` (None when nothing): epochs done a
    count no larger than the run's epochs, ``history`` lists of at most that many numbers,
    callback states objects of counts and ``best`` (a number, infinite or null before the
    first epoch, never NaN)."""
    epochs = (key.get("training") or {}).get("epochs") if isinstance(key.get("training"), dict) else None
    done = state.get("epochs_done")
    if not _count(done):
        return f"epochs_done must be a count of epochs, got {done!r}"
    if _count(epochs) and done > epochs:
        return f"{done} epochs done of a run of {epochs}"
    if not _count(state.get("model_arrays")):
        return f"model_arrays must be a count, got {state.get('model_arrays')!r}"
    if not isinstance(state.get("complete", False), bool):
        return f"complete must be true or false, got {state.get('complete')!r}"
    history = state.get("history")
    if not isinstance(history, dict):
        return f"history must be an object of lists, got {history!r}"[:160]
    for name, values in history.items():
        if not isinstance(values, list) or not all(_number(v) for v in values) or len(values) > done:
            return f"history {name!r} must be a list of at most {done} numbers"
    for part in ("early_stopping", "plateau"):
        if part not in state:
            continue
        fields = state[part]
        if not isinstance(fields, dict) or not set(fields) <= {"wait", "best", "best_epoch", "cooldown_counter"}:
            return f"{part} must be an object of wait, best, best_epoch and cooldown_counter"
        if not all(_count(v) for k, v in fields.items() if k != "best"):
            return f"{part} holds a count that is not a non-negative integer"
        best = fields.get("best")
        if best is not None and (not _number(best) or math.isnan(best)):
            return f"{part} best must be a number, got {best!r}"
    return None


class Checkpoint:
    """One run's checkpoint folder: read what is there, restore it into a model."""

    def __init__(self, out_dir: str | Path, key: dict, writable: bool = True):
        self.dir = Path(out_dir) / CHECKPOINT_DIR
        self.writable = writable  # False: read only (a non-chief worker of a multi-worker run)
        self.key = json.loads(json.dumps(key, default=str))  # as it will read back from JSON
        self.state: dict | None = None
        self.extended_from: int | None = None  # a finished run's epochs, when this one trains on from it
        self._weights = None  # the model's weights, once restore() has seen the model

    def load(self) -> dict | None:
        """The saved state of this run, None when there is none; refuses another run's."""
        if self.writable:  # a write that a kill interrupted is finished or undone
            recover(self.dir, KIND)
        path = self.dir / STATE_FILE
        if not path.is_file():
            return None
        try:
            if path.stat().st_size > MAX_STATE_BYTES:
                raise ValueError("too large")
            state = parse_json(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError, OSError):
            raise UserError(f"{path}: corrupt checkpoint description; delete {self.dir} to start over") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise UserError(f"{path}: not an nlp-tasks checkpoint; delete {self.dir} to start over")
        saved = _without_output_settings(state.get("key"))
        if saved != self.key:
            if self._longer(saved, state):
                state = {**state, "complete": False}  # trains on from its last epoch (Keras' initial_epoch)
            else:
                differs = _differences(self.key, saved if isinstance(saved, dict) else {})
                raise UserError(f"{self.dir} holds a checkpoint of a different training run (differs in: "
                                f"{', '.join(differs) or 'everything'}); use another output folder or delete it "
                                "to start over")
        problem = _state_problem(state, self.key)
        if problem:
            raise UserError(f"{path}: damaged checkpoint description ({problem}); delete {self.dir} to start over")
        self.state = state
        return state

    def _longer(self, saved, state) -> bool:
        """Whether this run is the saved one asking for more epochs than it had: the only
        difference the epoch count (``training.epochs``, and the task config's ``epochs``), now
        larger. Such a run trains on from the saved one's last checkpoint (its weights, optimizer
        and callback state), as Keras' ``initial_epoch`` and Hugging Face's
        ``resume_from_checkpoint`` let a finished run train on. ``extended_from``: its epochs."""
        if not isinstance(saved, dict):
            return False
        differs = set(_differences(self.key, saved))
        if not differs or not differs <= {"training.epochs", "config.epochs"}:
            return False
        try:
            before, now = int(saved["training"]["epochs"]), int(self.key["training"]["epochs"])
        except (KeyError, TypeError, ValueError):
            return False
        config = self.key.get("config")
        if isinstance(config, dict) and "epochs" in config and config["epochs"] != now:
            return False  # a task's config holds the same count
        done = state.get("epochs_done")
        if now <= before or not _count(done) or done > before:
            return False
        self.extended_from = before
        return True

    def restore(self, model) -> None:
        """Model and optimizer variables from ``last.npz`` (the optimizer must be compiled in)."""
        arrays = _load_arrays(self.dir / "last.npz")
        self._weights = model.weights  # what best.npz must match (Keras' get_weights())
        n_model = self.state["model_arrays"]
        _assign(model.variables, arrays[:n_model], "model variable", self.dir)
        optimizer = model.optimizer
        if optimizer is not None and len(arrays) > n_model:
            if not optimizer.built:
                optimizer.build(model.trainable_variables)
            _assign(optimizer.variables, arrays[n_model:], "optimizer variable", self.dir)

    def best_weights(self) -> list[np.ndarray] | None:
        """The best epoch's weights from ``best.npz`` (None without one), checked against the
        weights of the model :meth:`restore` restored, as Keras' ``set_weights`` will take them."""
        path = self.dir / "best.npz"
        if not path.is_file():
            return None
        arrays = _load_arrays(path)
        if self._weights is not None:
            _check(self._weights, arrays, "best weight", self.dir)
        return arrays

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
            replace_directory(tmp, self.dir, KIND)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def fingerprint(*parts) -> str:
    """A short SHA-256 of training data (NumPy arrays, or anything JSON can write): a run's identity."""
    import hashlib

    from nlp_tasks.data.examples import ExampleTable

    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(str((part.dtype.str, part.shape)).encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        elif isinstance(part, ExampleTable):  # the JSON of its list of rows, written a row at a time
            digest.update(b"[")
            for i, row in enumerate(part):
                digest.update((", " if i else "").encode() + json.dumps(row, sort_keys=True, default=str,
                                                                       ensure_ascii=False).encode("utf-8"))
            digest.update(b"]")
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:16]
