"""Damaged caches and checkpoint arrays (issue 38 items 4 and 9).

A cache only saves time: the calibration cache (which training path is fastest here) and the
piano-roll parse cache, when damaged in any way, mean measuring or parsing again and rewriting
the file, never a traceback, a hang, a huge read or training on nothing. A checkpoint array that
is not an array of numbers of the expected shape is one line, and nothing in it runs.

Each case has a cache folder of its own (``NLP_TASKS_CACHE``, filled into the case's ``env`` by
its setup). A FIFO or a link to ``/dev/zero`` in a cache's place would hang or exhaust memory
without the fix, so those run in a subprocess: one music training run covers both caches.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from tests.faults.cases_saved import checkpoint_kept, trained_run
from tests.faults.harness import Case
from tests.faults.models import sentiment_train_argv, write_sentiment_data

DEEP = "[" * 100_000 + "]" * 100_000  # RecursionError in json.loads without a depth limit
PIECE = [[60], [62, 65], [64]] * 3  # the one piece of the MIDI folder, as time steps of pitches


# ---------------------------------------------------------------------- the calibration cache
def _calibration_cache(tmp: Path, env: dict) -> Path:
    """The calibration cache file in the case's own cache folder, with calibration on (written
    into ``env``) and nothing remembered in this process's memory."""
    from nlp_tasks.layers import calibration

    calibration.forget()  # else an earlier run's choice is used without reading the file
    env.update({calibration.ENV: "calibrate", calibration.CACHE_ENV: str(tmp / "cache")})
    path = tmp / "cache" / calibration.cache_path().name
    path.parent.mkdir(exist_ok=True)
    return path


def _well_formed_calibration(tmp: Path) -> dict:
    """The entries of the case's calibration cache, asserting it is a regular file of entries
    as training writes them."""
    from nlp_tasks.layers import calibration

    (path,) = (tmp / "cache").glob("recurrent-paths-*.json")
    assert path.is_file() and not path.is_symlink(), "the damaged cache was not rewritten"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["version"] == calibration.CACHE_VERSION and data["entries"], data
    for key, entry in data["entries"].items():
        assert entry["path"] in calibration.PATHS and entry["path"] in entry["ms"], (key, entry)
        assert all(isinstance(ms, float) and math.isfinite(ms) for ms in entry["ms"].values()), (key, entry)
    return data["entries"]


def _calibration_case(name: str, content: str, **kwargs) -> Case:
    """Sentiment training with the calibration cache holding ``content``: measured again, rewritten."""
    env: dict = {}

    def setup(tmp, models):
        _calibration_cache(tmp, env).write_text(content, encoding="utf-8")
        return sentiment_train_argv(write_sentiment_data(tmp), tmp / "out")

    return Case("38.4", name, setup, exit=0, env=env, check=lambda tmp, result: _well_formed_calibration(tmp),
                **kwargs)


BAD_ENTRIES = json.dumps({"version": 1, "machine": {}, "entries": {
    "GRUCell:float32|batch=8|n_x=4|units=4": {"path": "loop", "ms": 5},  # a number where times belong
    "RNNCell:float32|batch=8|n_x=4|units=4": [],  # an empty list where an entry belongs
    "LSTMCell:float32|batch=8|n_x=4|units=4": {"path": "loop", "ms": {"loop": "fast"}, "batch": [], "steps": None},
    "MinimalGRUCell:float32|batch=8|n_x=4|units=4": {"path": ["loop"], "ms": {"loop": 1.0}},
}})
DEEP_ENTRY = '{"version": 1, "machine": {}, "entries": {"GRUCell": ' + DEEP + "}}"


def _info_with_deep_cache(env: dict):
    def setup(tmp, models):
        _calibration_cache(tmp, env).write_text(DEEP, encoding="utf-8")
        return ["info", "--json"]

    return setup


def _info_says_damaged(tmp, result):
    paths = json.loads(result.out)["training_paths"]
    assert paths["measured"] == 0 and paths["cache_state"].startswith("damaged"), paths


# ---------------------------------------------------------------------- the piano-roll parse cache
def _midi_folder(tmp: Path, env: dict) -> tuple[Path, Path]:
    """A folder holding one tiny MIDI file, and the file its parse is cached in (the case's own
    cache folder, written into ``env``)."""
    import tasks.music.data as md

    folder = tmp / "midi"
    folder.mkdir()
    md.write_midi(folder / "piece.mid", md.to_roll(PIECE, "piece"))
    env["NLP_TASKS_CACHE"] = str(tmp / "cache")
    cache = tmp / "cache" / f"pianorolls-{md._files_key(sorted(folder.glob('*.mid')), 1)}.json"
    cache.parent.mkdir(exist_ok=True)
    return folder, cache


def _music_train_argv(tmp: Path, folder: Path) -> list[str]:
    """The cheapest music training command (one epoch, 4 units)."""
    return ["music", "train", "--train", str(folder), "--out", str(tmp / "out"), "--epochs", "1", "--units", "4",
            "--json"]


def _parsed_again(tmp: Path, result) -> None:
    """Trained on the folder's one piece, and its cache rewritten with that piece."""
    summary = json.loads(result.out[result.out.index("{"):])
    assert summary["train_pieces"] == 1 and summary["epochs_run"] == 1, summary
    (cache,) = (tmp / "cache").glob("pianorolls-*.json")
    assert cache.is_file() and not cache.is_symlink(), "the damaged cache was not rewritten"
    assert json.loads(cache.read_text(encoding="utf-8")) == [PIECE]


def _pianoroll_case(name: str, content: str) -> Case:
    """Music training on a MIDI folder whose parse cache holds ``content``: parsed again."""
    env: dict = {}

    def setup(tmp, models):
        folder, cache = _midi_folder(tmp, env)
        cache.write_text(content, encoding="utf-8")
        return _music_train_argv(tmp, folder)

    return Case("38.4" if content != "[]" else "38.9", name, setup, exit=0, env=env, check=_parsed_again)


# ---------------------------------------------------------------------- both caches unreadable
def _both_caches(damage):
    """Music training with calibration on and both caches replaced by ``damage(path)``."""
    env: dict = {}

    def setup(tmp, models):
        folder, cache = _midi_folder(tmp, env)
        damage(cache)
        damage(_calibration_cache(tmp, env))
        return _music_train_argv(tmp, folder)

    def check(tmp, result):
        _parsed_again(tmp, result)
        _well_formed_calibration(tmp)

    return setup, env, check


_fifo_setup, _fifo_env, _fifo_check = _both_caches(os.mkfifo)
_zero_setup, _zero_env, _zero_check = _both_caches(lambda path: os.symlink("/dev/zero", path))


# ---------------------------------------------------------------------- checkpoint arrays
class _Runs:
    """Unpickling this makes a folder: proof that a checkpoint's pickle ran."""

    def __init__(self, folder: Path):
        self.folder = str(folder)

    def __reduce__(self):
        return os.mkdir, (self.folder,)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _replace_first_array(make):
    """A finished run whose ``last.npz`` has its first array replaced by ``make(tmp, original)``
    (the bytes of the new member)."""

    def setup(tmp, models):
        argv, checkpoint = trained_run(tmp)
        path = checkpoint / "last.npz"
        with zipfile.ZipFile(path) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        first = sorted(members)[0]
        members[first] = make(tmp, np.load(io.BytesIO(members[first])))
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        return argv

    return setup


def _nothing_ran(tmp, result):
    assert not (tmp / "executed").exists(), "a pickle in the checkpoint was executed"
    checkpoint_kept(tmp, result)


CASES = [
    _calibration_case("calibration cache nested 100,000 deep", DEEP),
    _calibration_case("calibration cache with an entry nested 100,000 deep", DEEP_ENTRY),
    _calibration_case("calibration cache entries of the wrong types are dropped", BAD_ENTRIES),
    Case("38.4", "info with a calibration cache nested 100,000 deep", _info_with_deep_cache(env := {}), exit=0,
         env=env, check=_info_says_damaged),
    _pianoroll_case("piano-roll cache nested 100,000 deep", DEEP),
    _pianoroll_case("piano-roll cache holding a number", "5"),
    _pianoroll_case("piano-roll cache holding pieces of the wrong types", '[[[60]], {"steps": 1}, null]'),
    _pianoroll_case("piano-roll cache holding no pieces", "[]"),
    Case("38.4", "FIFOs as the calibration and piano-roll caches do not block", _fifo_setup, exit=0, env=_fifo_env,
         check=_fifo_check, subprocess=True, timeout=120),
    Case("38.4", "links to /dev/zero as the calibration and piano-roll caches", _zero_setup, exit=0, env=_zero_env,
         check=_zero_check, subprocess=True, timeout=120),
    Case("38.9", "checkpoint array that is a pickled object",
         _replace_first_array(lambda tmp, old: _npy(np.array([_Runs(tmp / "executed")], dtype=object))),
         error=r"last\.npz: damaged checkpoint \(a00000\.npy holds object values, not numbers\); delete .* to "
               r"start over", check=_nothing_ran),
    Case("38.9", "checkpoint member that is a bare pickle",
         _replace_first_array(lambda tmp, old: pickle.dumps(_Runs(tmp / "executed"))),
         error=r"last\.npz: damaged checkpoint \(a00000\.npy is not a NumPy array", check=_nothing_ran),
    Case("38.9", "checkpoint array of strings of the right shape",
         _replace_first_array(lambda tmp, old: _npy(np.full(old.shape, "x"))),
         error=r"last\.npz: damaged checkpoint \(a00000\.npy holds <U1 values, not numbers\)", check=checkpoint_kept),
]
