"""Every reader of a saved file, fed arbitrary bytes and damaged copies of valid files: a result
or one clear UserError line, never another exception and never a hang (hypothesis deadline).

Readers: ``pipeline.json`` (:meth:`Pipeline.read_meta`, and :meth:`Pipeline.load` of a whole
folder), ``model.keras`` (:func:`inspect_keras_archive`, and :meth:`Pipeline.load`), vocabulary
files (:meth:`Vocabulary.load`), ``checkpoint/state.json`` (:meth:`Checkpoint.load`) and the
checkpoint's ``.npz`` arrays. Random inputs on developers' machines; a fixed sequence in CI
(CI=true), as in ``tests/nlp_tasks/data/test_fuzz_readers.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlp_tasks.errors import UserError
from nlp_tasks.io.safe_files import inspect_keras_archive, read_json
from nlp_tasks.pipeline import Pipeline
from nlp_tasks.saving import checkpoint
from nlp_tasks.text.vocab import Vocabulary
from tests.fuzzing import mutated

RANDOM, MUTATED, LOADS = 100, 100, 30
KEY = {"training": {"epochs": 3}, "data": "abc"}


def fuzz(examples, deadline=2000):
    return settings(max_examples=examples, deadline=deadline, suppress_health_check=list(HealthCheck),
                    derandomize=os.environ.get("CI", "").lower() == "true")


def json_values():
    """Valid JSON of any shape: mutated field values rather than mutated bytes."""
    leaves = st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats() | st.text(max_size=8)
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8),
                                                                                           inner, max_size=3),
                        max_leaves=8)


@st.composite
def edited_json(draw, valid: bytes):
    """A valid JSON object with one field, at the top or in a nested object (the config, the
    history), replaced by any JSON value or removed."""
    data = json.loads(valid)
    target = data
    while True:
        key = draw(st.sampled_from(sorted(target)))
        if isinstance(target[key], dict) and target[key] and draw(st.booleans()):
            target = target[key]
            continue
        break
    if draw(st.booleans()):
        target.pop(key)
    else:
        target[key] = draw(json_values())
    return json.dumps(data).encode()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny saved sentiment model and valid checkpoint files: {name: bytes}, plus the folder."""
    from tasks.sentiment import SentimentConfig, SentimentPipeline

    root = tmp_path_factory.mktemp("fuzz-saved")
    pipe = SentimentPipeline(SentimentConfig(units=2, embedding_dim=2, epochs=1))
    pairs = [("good film", "1"), ("bad film", "0")] * 2
    pipe.fit(pairs, pairs, verbose=0)
    folder = pipe.save(root / "model")
    state = {"format": checkpoint.FORMAT, "key": KEY, "model_arrays": 2, "epochs_done": 1, "complete": False,
             "history": {"loss": [0.5]}, "early_stopping": {"wait": 0, "best": float("inf"), "best_epoch": 0}}
    checkpoint._save_arrays(root / "last.npz", [np.zeros((2, 3), np.float32), np.arange(4)])
    return folder, {
        "pipeline.json": (folder / "pipeline.json").read_bytes(),
        "model.keras": (folder / "model.keras").read_bytes(),
        "vocab": (folder / "vocab-words.json").read_bytes(),
        "state.json": json.dumps(state).encode(),
        "npz": (root / "last.npz").read_bytes(),
        "json": json.dumps({"nested": [[[1, 2, {"a": None}]]], "text": "[[{"}).encode(),
    }


def _in_file(data: bytes, suffix: str, read) -> None:
    fd, name = tempfile.mkstemp(suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        _one_line(read, Path(name))
    finally:
        os.unlink(name)


def _one_line(read, *args):
    try:
        read(*args)
    except UserError as err:
        assert err.message.strip() and "\n" not in err.message, repr(err.message)


def _read_meta(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "pipeline.json").write_bytes(data)
        _one_line(Pipeline.read_meta, folder)


def _read_state(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "checkpoint").mkdir()
        (Path(folder) / "checkpoint" / "state.json").write_bytes(data)
        _one_line(checkpoint.Checkpoint(folder, KEY, writable=False).load)


def _load_with(folder: Path, name: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "model"
        shutil.copytree(folder, copy)
        (copy / name).write_bytes(data)
        _one_line(Pipeline.load, copy)


READERS = {
    "pipeline.json": _read_meta,
    "model.keras": lambda data: _in_file(data, ".keras", inspect_keras_archive),
    "vocab": lambda data: _in_file(data, ".json", Vocabulary.load),
    "state.json": _read_state,
    "npz": lambda data: _in_file(data, ".npz", checkpoint._load_arrays),
    "json": lambda data: _in_file(data, ".json", lambda p: read_json(p, "test file")),  # the shared helper
}
JSON_FILES = ("pipeline.json", "vocab", "state.json")


@pytest.mark.parametrize("kind", sorted(READERS))
def test_arbitrary_bytes(kind):
    @fuzz(RANDOM)
    @given(st.binary(max_size=600))
    def run(data):
        READERS[kind](data)

    run()


@pytest.mark.parametrize("kind", sorted(READERS))
def test_damaged_valid_files(saved, kind):
    @fuzz(MUTATED)
    @given(mutated(saved[1][kind]))
    def run(data):
        READERS[kind](data)

    run()


@pytest.mark.parametrize("kind", JSON_FILES)
def test_valid_json_with_any_field_values(saved, kind):
    @fuzz(MUTATED)
    @given(edited_json(saved[1][kind]))
    def run(data):
        READERS[kind](data)

    run()


@pytest.mark.parametrize("name", ["pipeline.json", "model.keras", "vocab-words.json"])
def test_loading_a_folder_with_one_damaged_file(saved, name):
    folder, valid = saved
    kind = {"vocab-words.json": "vocab"}.get(name, name)
    strategy = mutated(valid[kind]) if name == "model.keras" else (mutated(valid[kind]) | edited_json(valid[kind]))

    @fuzz(LOADS, deadline=20_000)
    @given(strategy)
    def run(data):
        _load_with(folder, name, data)

    run()


def test_the_valid_files_read(saved):
    folder, valid = saved
    assert Pipeline.read_meta(folder)["task"] == "sentiment"
    config, stored = inspect_keras_archive(folder / "model.keras")
    assert config["class_name"] == "Functional" and stored > 0
    assert len(Vocabulary.load(folder / "vocab-words.json")) == 7
    assert Pipeline.load(folder).predict("good film")["label"] in ("0", "1")
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "checkpoint").mkdir()
        (Path(scratch) / "checkpoint" / "state.json").write_bytes(valid["state.json"])
        assert checkpoint.Checkpoint(scratch, KEY, writable=False).load()["epochs_done"] == 1
        (Path(scratch) / "last.npz").write_bytes(valid["npz"])
        assert [a.shape for a in checkpoint._load_arrays(Path(scratch) / "last.npz")] == [(2, 3), (4,)]
        (Path(scratch) / "ok.json").write_bytes(valid["json"])
        assert read_json(Path(scratch) / "ok.json", "test file")["text"] == "[[{"
        (Path(scratch) / "deep.json").write_text("[" * 101 + "]" * 101)
        with pytest.raises(UserError, match=r"deep\.json: corrupt test file \(invalid JSON: nested more than 100"):
            read_json(Path(scratch) / "deep.json", "test file")
        (Path(scratch) / "deep.json").write_text("[" * 100 + "]" * 100)
        assert read_json(Path(scratch) / "deep.json", "test file")


def test_a_fifo_in_place_of_a_saved_file_is_refused_without_blocking(tmp_path):
    import os

    from nlp_tasks.io.safe_files import read_json
    from nlp_tasks.saving.checkpoint import _load_arrays

    fifo = tmp_path / "last.npz"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="not a regular file"):
        _load_arrays(fifo)
    with pytest.raises(UserError, match="not a regular file"):
        read_json(fifo, "test file")
