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
from tests import REPO as ROOT
from tests import forked


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
    (folder / "train.txt").write_text("\n".join(lines[:1000]) + "\n", encoding="utf-8")
    (folder / "dev.txt").write_text("\n".join(lines[1000:1200]) + "\n", encoding="utf-8")
    return folder / "train.txt", folder / "dev.txt"


def _run(command, env):
    return forked.run_command(command, env=env, cwd=ROOT, timeout=600)


def _kill_during_epoch_3_then_resume(command, out: Path, epochs: int, env: dict, delay: float = 0.0):
    """Start ``command``, SIGKILL it once the checkpoint of epoch 2 is on disk (during epoch 3),
    run it again; returns the resumed run's JSON and the epochs the killed run had finished."""
    process = forked.popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    state_file = out / "checkpoint" / "state.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait for the checkpoint of epoch 2, then kill during epoch 3
        if state_file.is_file() and json.loads(state_file.read_text())["epochs_done"] >= 2:
            break
        if process.poll() is not None:
            break
        time.sleep(0.02)
    time.sleep(delay)  # a little way into epoch 3
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()[-2000:]
    done = json.loads(state_file.read_text())["epochs_done"]
    assert 2 <= done < epochs, "the run was not killed before it finished"
    assert not (out / "model.keras").exists()  # killed before the model was saved
    resumed = _run(command, env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    result = json.loads(resumed.stdout)
    assert result["resumed_from_epoch"] == done and result["epochs_run"] == epochs
    return result, done


def _assert_same_weights(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def _env(threads: int | None = None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if threads:  # two runs side by side on a small machine: one thread each, not a fight over all
        env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads))
    return env


def test_sigkill_mid_epoch_then_rerun_gives_the_uninterrupted_result(sst_files, tmp_path):
    train, dev = sst_files
    env = _env()
    reference = _run(_train_command(train, dev, tmp_path / "reference"), env)
    assert reference.returncode == 0, reference.stderr[-2000:]

    out = tmp_path / "killed"
    result, done = _kill_during_epoch_3_then_resume(_train_command(train, dev, out), out, 6, env, delay=0.4)
    expected = json.loads(reference.stdout)
    assert result["best"] == expected["best"] and result["best_epoch"] == expected["best_epoch"]
    # CPU with op determinism: the resumed run computes exactly what the uninterrupted one did.
    _assert_same_weights(_weights(out), _weights(tmp_path / "reference"))
    log = (out / "training-log.csv").read_text().strip().splitlines()
    assert len(log) == 1 + 6  # header + one row per epoch, the interrupted epoch not repeated
    assert (out / "training-curves.png").stat().st_size > 1000

    # Running the finished command once more trains nothing and keeps the same model.
    again = _run(_train_command(train, dev, out), env)
    assert again.returncode == 0, again.stderr[-2000:]
    _assert_same_weights(_weights(out), _weights(tmp_path / "reference"))


def _resume_matches_uninterrupted(command, load, tmp_path, epochs):
    """The shared body of the per-task tests: an uninterrupted run (started alongside, to save
    time) and a killed-and-resumed run of the same command log the same figures for every
    epoch and end with identical weights. The logs matter: the saved weights are the best
    epoch's, which may come before the kill."""
    env = _env(threads=1)
    reference = forked.popen(command(tmp_path / "reference"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env, cwd=ROOT)
    out = tmp_path / "killed"
    try:
        result, _ = _kill_during_epoch_3_then_resume(command(out), out, epochs, env)
    finally:
        stdout, stderr = reference.communicate(timeout=600)
    assert reference.returncode == 0, stderr[-2000:]
    expected = json.loads(stdout)
    assert result["best"] == expected["best"] and result["best_epoch"] == expected["best_epoch"]
    log = (out / "training-log.csv").read_text().strip().splitlines()
    assert len(log) == 1 + epochs  # header + one row per epoch, the interrupted epoch not repeated
    assert log == (tmp_path / "reference" / "training-log.csv").read_text().strip().splitlines()
    _assert_same_weights(load(out), load(tmp_path / "reference"))


def _cli(task, *arguments):
    return [sys.executable, str(ROOT / "cli.py"), task, "train", *map(str, arguments), "--json"]


@pytest.fixture(scope="module")
def conll_files(shared_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("conll")
    blocks = (shared_data / "conll2003" / "train.txt").read_text(encoding="utf-8").split("\n\n")
    (folder / "train.txt").write_text("\n\n".join(blocks[:100]) + "\n", encoding="utf-8")
    (folder / "dev.txt").write_text("\n\n".join(blocks[100:130]) + "\n", encoding="utf-8")
    return folder / "train.txt", folder / "dev.txt"


def test_ner_resume_after_sigkill_replays_the_same_word_dropout(conll_files, tmp_path):
    from tasks.ner import NERPipeline

    train, dev = conll_files

    def command(out):  # word dropout well above 0: a resumed run must draw the same masks
        return _cli("ner", "--train", train, "--dev", dev, "--out", out, "--epochs", 4, "--units", 8,
                    "--char-units", 4, "--batch-size", 16, "--word-dropout", 0.3, "--dropout", 0.2,
                    "--learning-rate", 0.01, "--patience", 10, "--seed", 5)

    _resume_matches_uninterrupted(command, lambda p: NERPipeline.load(p).model.get_weights(), tmp_path, 4)


@pytest.fixture(scope="module")
def shakespeare(shared_data, tmp_path_factory):
    path = tmp_path_factory.mktemp("charlm") / "text.txt"
    path.write_text((shared_data / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")[:6000],
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("mode", ["stream", "lines"])
def test_charlm_resume_after_sigkill_gives_the_uninterrupted_result(shakespeare, tmp_path, mode):
    """On a prepared store (charlm prepare), whose batches are those of the text read in memory
    (tests/tasks/charlm/test_prepared.py): the windows or lines read from its memory map resume too."""
    import io

    from tasks.charlm import LanguageModelConfig, LanguageModelPipeline
    from tasks.charlm.prepared import prepare

    store = tmp_path / "store"
    prepare(str(shakespeare), store, LanguageModelConfig(mode=mode), stream=io.StringIO())

    def command(out):  # dropout > 0: the dropout layers' random state must resume too
        return _cli("charlm", "--train", store, "--out", out, "--mode", mode, "--epochs", 4, "--units", 16,
                    "--layers", 1, "--embedding-dim", 8, "--window", 25, "--batch-size", 8, "--dropout", 0.2,
                    "--patience", 10, "--seed", 2)

    _resume_matches_uninterrupted(command, lambda p: LanguageModelPipeline.load(p).model.get_weights(), tmp_path, 4)


@pytest.fixture(scope="module")
def chorales(shared_data, tmp_path_factory):
    data = json.loads((shared_data / "jsb_chorales" / "jsb-chorales-quarter.json").read_text(encoding="utf-8"))
    path = tmp_path_factory.mktemp("music") / "chorales.json"
    path.write_text(json.dumps({"train": data["train"][:24], "valid": data["valid"][:6]}), encoding="utf-8")
    return path


def test_music_resume_after_sigkill_gives_the_uninterrupted_result(chorales, tmp_path):
    """The NADE head: the recurrent layers and input dropout of the default sigmoid head, plus the
    NADE's own weights (the head draws nothing while training: no random stream of its own)."""
    from tasks.music import MusicPipeline

    def command(out):  # input dropout and dropout > 0: every random stream must resume
        return _cli("music", "--train", chorales, "--out", out, "--epochs", 4, "--units", 16, "--batch-size", 8,
                    "--input-dropout", 0.2, "--dropout", 0.2, "--patience", 10, "--seed", 4, "--head", "nade",
                    "--nade-units", 8)

    _resume_matches_uninterrupted(command, lambda p: MusicPipeline.load(p).model.get_weights(), tmp_path, 4)


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
    from nlp_tasks.saving.checkpoint import Checkpoint

    _state_file(tmp_path, {"training": {"epochs": 3, "seed": 0, "verbose": 1}, "task": "toy"})
    state = Checkpoint(tmp_path, {"training": {"epochs": 3, "seed": 0}, "task": "toy"}).load()
    assert state["epochs_done"] == 1


def test_a_different_run_is_refused_naming_the_field(tmp_path):
    from nlp_tasks.errors import UserError
    from nlp_tasks.saving.checkpoint import Checkpoint

    _state_file(tmp_path, {"training": {"epochs": 3, "seed": 0}, "config": {"units": 8}, "task": "toy"})
    with pytest.raises(UserError, match=r"differs in: config\.units, training\.seed\)"):
        Checkpoint(tmp_path, {"training": {"epochs": 3, "seed": 1}, "config": {"units": 16}, "task": "toy"}).load()


def test_more_epochs_of_a_task_run_train_on_and_nothing_else_may_change(tmp_path):
    """A task's run identity holds the epochs twice (training and the task config): both larger
    is the same run trained on; any other change, or fewer epochs, is refused."""
    from nlp_tasks.errors import UserError
    from nlp_tasks.saving.checkpoint import Checkpoint

    def key(epochs, units=8):
        return {"training": {"epochs": epochs, "seed": 0}, "config": {"epochs": epochs, "units": units}, "task": "toy"}

    _state_file(tmp_path, key(3))
    state = (checkpoint := Checkpoint(tmp_path, key(5))).load()
    assert state["epochs_done"] == 1 and state["complete"] is False and checkpoint.extended_from == 3
    with pytest.raises(UserError, match=r"differs in: config\.epochs, config\.units, training\.epochs\)"):
        Checkpoint(tmp_path, key(5, units=16)).load()
    with pytest.raises(UserError, match=r"differs in: config\.epochs, training\.epochs\)"):
        Checkpoint(tmp_path, key(2)).load()
    half = key(5)
    half["config"]["epochs"] = 3
    with pytest.raises(UserError, match=r"differs in: training\.epochs\)"):
        Checkpoint(tmp_path, half).load()
