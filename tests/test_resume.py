"""Checkpoints and resume: a training process killed mid-epoch continues to the same model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nlp_tasks.errors import UserError

ROOT = Path(__file__).resolve().parent.parent


def _train_command(train, dev, out, epochs=6):
    return [sys.executable, str(ROOT / "cli.py"), "sentiment", "train", "--train", str(train), "--dev", str(dev),
            "--out", str(out), "--epochs", str(epochs), "--units", "24", "--embedding-dim", "24", "--batch-size", "16",
            "--patience", "10", "--seed", "3", "--json"]


def _weights(path):
    from tasks.sentiment import SentimentPipeline

    return SentimentPipeline.load(path).model.get_weights()


@pytest.fixture(scope="module")
def sst_files(shared_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sst")
    lines = (shared_data / "sst" / "sst2.train.txt").read_text(encoding="utf-8").splitlines()
    (folder / "train.txt").write_text("\n".join(lines[:2000]) + "\n", encoding="utf-8")
    (folder / "dev.txt").write_text("\n".join(lines[2000:2300]) + "\n", encoding="utf-8")
    return folder / "train.txt", folder / "dev.txt"


def test_sigkill_mid_epoch_then_rerun_gives_the_uninterrupted_result(sst_files, tmp_path):
    train, dev = sst_files
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    reference = subprocess.run(_train_command(train, dev, tmp_path / "reference"), capture_output=True, text=True,
                               env=env, cwd=ROOT, timeout=600)
    assert reference.returncode == 0, reference.stderr[-2000:]

    out = tmp_path / "killed"
    process = subprocess.Popen(_train_command(train, dev, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=env, cwd=ROOT)
    state_file = out / "checkpoint" / "state.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait for the checkpoint of epoch 2, then kill during epoch 3
        if state_file.is_file() and json.loads(state_file.read_text())["epochs_done"] >= 2:
            break
        time.sleep(0.02)
    time.sleep(0.4)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    done = json.loads(state_file.read_text())["epochs_done"]
    assert 2 <= done < 6, "the run was not killed before it finished"
    assert not (out / "model.keras").exists()  # killed before the model was saved

    resumed = subprocess.run(_train_command(train, dev, out), capture_output=True, text=True, env=env, cwd=ROOT,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    result = json.loads(resumed.stdout)
    assert result["resumed_from_epoch"] == done and result["epochs_run"] == 6
    expected = json.loads(reference.stdout)
    assert result["best"] == expected["best"] and result["best_epoch"] == expected["best_epoch"]
    # CPU with op determinism: the resumed run computes exactly what the uninterrupted one did.
    for a, b in zip(_weights(out), _weights(tmp_path / "reference")):
        np.testing.assert_array_equal(a, b)
    log = (out / "training-log.csv").read_text().strip().splitlines()
    assert len(log) == 1 + 6  # header + one row per epoch, the interrupted epoch not repeated
    assert (out / "training-curves.png").stat().st_size > 1000

    # Running the finished command once more trains nothing and keeps the same model.
    again = subprocess.run(_train_command(train, dev, out), capture_output=True, text=True, env=env, cwd=ROOT,
                           timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    for a, b in zip(_weights(out), _weights(tmp_path / "reference")):
        np.testing.assert_array_equal(a, b)


def test_a_checkpoint_of_another_run_is_refused(sst_files, tmp_path):
    from tasks.sentiment import SentimentConfig, SentimentPipeline

    train, dev = sst_files
    small = dict(units=8, embedding_dim=8, epochs=1)
    SentimentPipeline(SentimentConfig(**small)).fit(train, dev, out_dir=tmp_path, verbose=0)
    with pytest.raises(UserError, match=r"different training run \(differs in: config\.units\)"):
        SentimentPipeline(SentimentConfig(**{**small, "units": 9})).fit(train, dev, out_dir=tmp_path, verbose=0)
    (tmp_path / "checkpoint" / "state.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="corrupt checkpoint"):
        SentimentPipeline(SentimentConfig(**small)).fit(train, dev, out_dir=tmp_path, verbose=0)


def _state_file(folder: Path, key: dict) -> None:
    (folder / "checkpoint").mkdir(parents=True)
    state = {"format": "nlp_tasks.checkpoint", "key": key, "model_arrays": 0, "epochs_done": 1,
             "complete": False, "history": {"loss": [1.0]}}
    (folder / "checkpoint" / "state.json").write_text(json.dumps(state))


def test_a_checkpoint_that_still_holds_verbose_in_its_identity_resumes(tmp_path):
    from nlp_tasks.checkpoint import Checkpoint

    _state_file(tmp_path, {"training": {"epochs": 3, "seed": 0, "verbose": 1}, "task": "toy"})
    state = Checkpoint(tmp_path, {"training": {"epochs": 3, "seed": 0}, "task": "toy"}).load()
    assert state["epochs_done"] == 1


def test_a_different_run_is_refused_naming_the_field(tmp_path):
    from nlp_tasks.checkpoint import Checkpoint
    from nlp_tasks.errors import UserError

    _state_file(tmp_path, {"training": {"epochs": 3, "seed": 0}, "config": {"units": 8}, "task": "toy"})
    with pytest.raises(UserError, match=r"differs in: config\.units, training\.seed\)"):
        Checkpoint(tmp_path, {"training": {"epochs": 3, "seed": 1}, "config": {"units": 16}, "task": "toy"}).load()
