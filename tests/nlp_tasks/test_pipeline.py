"""The Pipeline base class: save -> load, consistency checks, refusing unsafe or foreign folders."""

from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pytest

from nlp_tasks import registry
from nlp_tasks.config import Config
from nlp_tasks.errors import UserError
from nlp_tasks.pipeline import Pipeline
from nlp_tasks.text.vocab import Vocabulary
from tests import REPO as ROOT
from tests.toy_pipeline import TOY_DATA, ToyConfig, ToyPipeline


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    pipe = ToyPipeline(ToyConfig(epochs=2))
    pipe.fit(TOY_DATA)
    pipe.metrics = {"accuracy": pipe.evaluate(TOY_DATA)["accuracy"]}
    path = pipe.save(tmp_path_factory.mktemp("models") / "toy")
    return pipe, path


def test_save_writes_one_complete_folder(trained):
    pipe, path = trained
    assert sorted(p.name for p in path.iterdir()) == [".nlp-tasks", "README.md", "model.keras", "pipeline.json",
                                                      "vocab-words.json"]
    meta = json.loads((path / "pipeline.json").read_text())
    assert meta["task"] == "toy" and meta["labels"] == ["neg", "pos"]
    assert meta["config"] == {"units": 8, "cell": "gru", "epochs": 2, "seed": 0}
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_load_gives_identical_predictions(trained):
    pipe, path = trained
    loaded = ToyPipeline.load(path)
    texts = [t for t, _ in TOY_DATA] + ["unseen words only"]
    assert loaded.predict(texts) == pipe.predict(texts)
    x = pipe.vocabs["words"].encode_batch(texts)
    np.testing.assert_array_equal(loaded.model(x).numpy(), pipe.model(x).numpy())
    assert loaded.config == pipe.config and loaded.vocabs == pipe.vocabs and loaded("good") == pipe("good")


def test_saving_again_replaces_the_model_and_keeps_the_logs(trained, tmp_path):
    pipe, path = trained
    target = tmp_path / "toy"
    shutil.copytree(path, target)
    meta = json.loads((target / "pipeline.json").read_text())
    meta["vocabularies"].append("stale")  # the older model's own vocabulary, listed in its description
    (target / "pipeline.json").write_text(json.dumps(meta))
    (target / "vocab-stale.json").write_text("from an older model")
    (target / "vocab-mine.json").write_text("the user's, not listed: not ours")
    (target / "training-log.csv").write_text("epoch,loss\n0,1.0\n")   # what training left beside it
    pipe.save(target)
    assert not (target / "vocab-stale.json").exists()
    assert (target / "vocab-mine.json").read_text() == "the user's, not listed: not ours"
    assert (target / "training-log.csv").read_text() == "epoch,loss\n0,1.0\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folders left
    ToyPipeline.load(target)


def test_generic_load_dispatches_through_the_registry(trained, monkeypatch):
    _, path = trained
    monkeypatch.setattr(registry, "TASKS", registry.TASKS.copy())
    registry.register("toy", registry.TaskEntry("tests.toy_pipeline:ToyPipeline", "", "toy"))
    assert type(Pipeline.load(path)) is ToyPipeline


def test_folder_of_another_task_is_refused(trained, tmp_path):
    _, path = trained

    class OtherPipeline(ToyPipeline):
        task = "other"

    with pytest.raises(UserError, match="holds a 'toy' model, not a 'other' model"):
        OtherPipeline.load(path)
    with pytest.raises(UserError, match="unknown task 'toy'"):
        Pipeline.load(path)


def copy_of(path, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(path, target)
    return target


def edit_meta(folder, **changes):
    meta = json.loads((folder / "pipeline.json").read_text())
    meta.update(changes)
    (folder / "pipeline.json").write_text(json.dumps(meta))


def test_vocabulary_that_does_not_fit_the_weights_is_refused(trained, tmp_path):
    _, path = trained
    folder = copy_of(path, tmp_path)
    Vocabulary.build(["a b c"]).save(folder / "vocab-words.json")
    with pytest.raises(UserError, match="vocabulary 'words' has 7 tokens but the model's embedding"):
        ToyPipeline.load(folder)


def test_labels_that_do_not_fit_the_weights_are_refused(trained, tmp_path):
    _, path = trained
    folder = copy_of(path, tmp_path)
    edit_meta(folder, labels=["neg", "neutral", "pos"])
    with pytest.raises(UserError, match="3 labels are saved but the model's output layer has 2 units"):
        ToyPipeline.load(folder)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: (f / "pipeline.json").unlink(), "pipeline.json is missing"),
        (lambda f: (f / "pipeline.json").write_bytes(b"\xff{"), "corrupt model description"),
        (lambda f: edit_meta(f, version=7), "version 7 is not supported"),
        (lambda f: edit_meta(f, config={"units": 8, "colour": "red"}), "unknown ToyConfig field"),
        (lambda f: edit_meta(f, config={"units": "eight"}), "units must be int"),
        (lambda f: (f / "vocab-words.json").unlink(), "vocabulary file not found"),
        (lambda f: (f / "model.keras").unlink(), "model weights not found"),
        (lambda f: (f / "model.keras").write_bytes(b"not a zip file"), "refusing to load model"),
    ],
)
def test_broken_folders_give_one_line_errors(trained, tmp_path, damage, message):
    _, path = trained
    folder = copy_of(path, tmp_path)
    damage(folder)
    with pytest.raises(UserError, match=message) as info:
        ToyPipeline.load(folder)
    assert "\n" not in str(info.value)


def test_missing_folder_and_file_instead_of_folder(tmp_path):
    with pytest.raises(UserError, match="model folder not found"):
        ToyPipeline.load(tmp_path / "nothing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="it is a file"):
        ToyPipeline.load(tmp_path / "file")


def test_model_with_lambda_layer_is_refused(trained, tmp_path):
    _, path = trained
    folder = copy_of(path, tmp_path)
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(20, 4, name="embed_words")(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0)(x)
    keras.Model(inputs, keras.layers.Dense(2, name="output")(x)).save(folder / "model.keras")
    with pytest.raises(UserError, match="Lambda layer or other code"):
        ToyPipeline.load(folder)


def test_model_with_unknown_class_is_refused(trained, tmp_path):
    _, path = trained
    folder = copy_of(path, tmp_path)

    @keras.saving.register_keras_serializable(package="stranger")
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    inputs = keras.Input((3,))
    keras.Model(inputs, keras.layers.Dense(2, name="output")(Doubler()(inputs))).save(folder / "model.keras")
    keras.saving.get_custom_objects().pop("stranger>Doubler")
    with pytest.raises(UserError, match="refusing to load model"):
        ToyPipeline.load(folder)


def test_untrained_pipeline_cannot_save_or_predict(tmp_path):
    pipe = ToyPipeline()
    with pytest.raises(UserError, match="no model yet"):
        pipe.save(tmp_path / "x")
    with pytest.raises(UserError, match="needs a ToyConfig"):
        ToyPipeline(Config())


def test_config_replace_checks_and_never_mutates_defaults():
    base = ToyConfig()
    changed = base.replace(units=16)
    assert changed.units == 16 and base.units == 8 and ToyConfig().units == 8
    with pytest.raises(UserError, match="units must be int"):
        base.replace(units=1.5)
    with pytest.raises(dataclasses_frozen_error()):
        base.units = 3


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


# ---------------------------------------------------------------- the output folder's lock: one scope
def _lock_free(folder) -> bool:
    """Whether another process can take ``folder``'s lock now."""
    import subprocess
    import sys

    code = "import sys; from nlp_tasks.saving import outdir; outdir.acquire(sys.argv[1])"
    return subprocess.run([sys.executable, "-c", code, str(folder)], cwd=ROOT, capture_output=True,
                          timeout=60).returncode == 0


DIGITS = ["room 101", "no digits", "call 555", "hello", "year 2024", "plain words", "7 up", "none here"]


def test_a_standalone_fit_releases_its_folder_and_a_save_elsewhere_too(tmp_path):
    from nlp_tasks.saving import outdir
    from tests.toytask.pipeline import DigitConfig, DigitPipeline

    pipe = DigitPipeline(DigitConfig(epochs=1, units=4))
    pipe.fit(DIGITS, DIGITS, out_dir=tmp_path / "run", verbose=0)  # as the demos do: fit into A...
    assert (tmp_path / "run" / "checkpoint").is_dir()
    assert not outdir.holds((tmp_path / "run").absolute()) and _lock_free(tmp_path / "run")
    pipe.save(tmp_path / "run" / "model")  # ... save into B
    assert not outdir.holds((tmp_path / "run" / "model").absolute()) and _lock_free(tmp_path / "run" / "model")
    assert _lock_free(tmp_path / "run")
    with pytest.raises(UserError):
        pipe.fit([], out_dir=tmp_path / "failed", verbose=0)  # a fit that raises lets its folder go too
    assert not outdir.holds((tmp_path / "failed").absolute())


def test_train_holds_the_lock_across_fit_test_and_save(tmp_path, monkeypatch):
    from nlp_tasks.saving import outdir
    from tests.toytask.pipeline import DigitConfig, DigitPipeline

    out = (tmp_path / "out").absolute()
    seen = []
    real_evaluate, real_save = DigitPipeline.evaluate, DigitPipeline.save

    def evaluate(self, data, split="test"):
        seen.append(("test", outdir.holds(out), _lock_free(out)))
        return real_evaluate(self, data, split)

    def save(self, path, run=None):
        seen.append(("save", outdir.holds(out), _lock_free(out)))
        return real_save(self, path, run=run)

    monkeypatch.setattr(DigitPipeline, "evaluate", evaluate)
    monkeypatch.setattr(DigitPipeline, "save", save)
    DigitPipeline(DigitConfig(epochs=1, units=4)).train(DIGITS, DIGITS, DIGITS, out=tmp_path / "out", verbose=0)
    assert seen == [("test", True, False), ("save", True, False)]
    assert not outdir.holds(out) and _lock_free(out) and (out / "pipeline.json").is_file()


def test_the_model_card_takes_its_words_from_the_task(trained):
    from nlp_tasks.saving.card import model_card

    pipe, path = trained
    card = (path / "README.md").read_text(encoding="utf-8")  # a task of the user's: the neutral words
    assert "pipeline_tag: other" in card and "A model of the task `toy`." in card and Pipeline.card_limits in card
    for task in sorted(registry.entries()):
        cls = registry.pipeline_class(task)
        text = model_card(cls())
        assert f"pipeline_tag: {cls.card_tag}\n" in text and cls.card_summary in text and cls.card_limits in text
        assert "SST" not in text and "CoNLL" not in text  # nothing said of data the model may not have seen
