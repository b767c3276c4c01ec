"""Sentiment pipeline on a few hundred real SST-5 sentences, plus input handling and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nlp_tasks.errors import UserError
from tasks.sentiment import SentimentConfig, SentimentPipeline, read_examples
from tasks.sentiment.cli import format_prediction
from tests import REPO as ROOT
from tests import forked


def sst_sample(shared_data, split, n):
    lines = (shared_data / "sst" / f"sst2.{split}.txt").read_text(encoding="utf-8").splitlines()
    return [(text, label) for label, text in (line.split(" ", 1) for line in lines[:n])]


@pytest.fixture(scope="module")
def sst(shared_data):
    return sst_sample(shared_data, "train", 600), sst_sample(shared_data, "dev", 200)


@pytest.fixture(scope="module")
def trained(sst, tmp_path_factory):
    train, dev = sst
    pipe = SentimentPipeline(SentimentConfig(epochs=6, units=32, embedding_dim=32, batch_size=16,
                                             learning_rate=3e-3, patience=None))
    summary = pipe.fit(train, dev, verbose=0)
    path = pipe.save(tmp_path_factory.mktemp("models") / "sst2")
    return pipe, summary, path


def test_training_lowers_the_loss_and_beats_chance(trained, sst):
    pipe, summary, _ = trained
    losses = summary["history"]["loss"]
    assert losses[-1] < 0.8 * losses[0]
    _, dev = sst
    majority = max(np.mean([label == "0" for _, label in dev]), np.mean([label == "1" for _, label in dev]))
    report = pipe.evaluate(dev)
    assert report["accuracy"] > majority + 0.05, (report["accuracy"], majority)
    assert set(report["per_class"]) == {"0", "1"} and report["examples"] == len(dev)


def test_predict_plain_python_and_save_load_round_trip(trained):
    pipe, _, path = trained
    texts = ["a gorgeous , witty film .", "dull , lifeless and boring ."]
    result = pipe.predict(texts)
    assert isinstance(result, list) and set(result[0]) == {"text", "label", "rating", "probabilities"}
    assert result[0]["rating"] is None  # binary labels are not ratings
    assert abs(sum(result[0]["probabilities"].values()) - 1) < 1e-4
    loaded = SentimentPipeline.load(path)
    assert loaded.predict(texts) == result
    assert loaded("a film") == pipe("a film")


def test_empty_text_has_a_defined_answer(trained):
    pipe, _, _ = trained
    result = pipe.predict("   ")
    assert result["empty"] is True and set(result["probabilities"].values()) == {0.5}
    # No evidence, so no label: not the first label (a confident "very negative" on SST-5).
    assert result["label"] is None and result["rating"] is None
    assert "label" in pipe.predict("a film") and pipe.predict("a film")["label"] is not None
    assert "no label" in format_prediction(result)


def test_an_empty_text_gets_no_rating_on_a_five_point_scale():
    ratings = SentimentPipeline(SentimentConfig(epochs=1, units=4, embedding_dim=4))
    ratings.fit([(f"word{i} film", str(i % 5)) for i in range(10)], verbose=0)
    result = ratings.predict(["", "word1 film"])
    assert result[0]["label"] is None and result[0]["rating"] is None and result[0]["empty"] is True
    assert result[1]["rating"] == int(result[1]["label"]) + 1


def test_unknown_label_at_evaluation_is_refused(trained):
    pipe, _, _ = trained
    with pytest.raises(UserError, match=r"label\(s\) '7' not in the model's label set"):
        pipe.evaluate([("fine", "7")])


# Each pooling and each non-default cell once (the pooling reads the cell's outputs, whatever the cell).
@pytest.mark.parametrize("cell, pooling", [("lstm", "last"), ("mingru", "mean"), ("lstm", "attention"),
                                           ("mingru", "attention")])
def test_every_pooling_and_cell_builds_trains_and_reloads(pooling, cell, tmp_path):
    data = [("good fun", "1"), ("bad film", "0"), ("great", "1"), ("awful , bad", "0")] * 4
    pipe = SentimentPipeline(SentimentConfig(cell=cell, pooling=pooling, units=8, embedding_dim=8, epochs=1,
                                             layers=2, class_weights=True))
    pipe.fit(data, data, verbose=0)
    loaded = SentimentPipeline.load(pipe.save(tmp_path / "m"))
    assert loaded.predict(["good", "bad"]) == pipe.predict(["good", "bad"])


def test_ratings_for_five_labels_and_pretrained_vectors(tmp_path):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("good 1 1 1 1\nbad -1 -1 -1 -1\n", encoding="utf-8")
    data = [(w, str(i % 5)) for i, w in enumerate(["good", "bad", "fine", "ok", "great"] * 3)]
    pipe = SentimentPipeline(SentimentConfig(units=4, embedding_dim=4, epochs=1))
    pipe.fit(data, embeddings=str(vectors), verbose=0)
    assert pipe.labels == ["0", "1", "2", "3", "4"]
    assert pipe.predict("good")["rating"] == int(pipe.predict("good")["label"]) + 1
    embedding = pipe.model.get_layer("embed_words").get_weights()[0]
    np.testing.assert_allclose(embedding[pipe.vocabs["words"].token_to_id("bad")], -1, atol=0.02)  # 1 epoch moved it
    with pytest.raises(UserError, match="4 dimensions but embedding_dim is 8"):
        SentimentPipeline(SentimentConfig(units=4, embedding_dim=8, epochs=1)).fit(data, embeddings=str(vectors))


@pytest.mark.parametrize("make, message", [
    (lambda p: [("only one label", "1")], "at least two labels"),
    (lambda p: [("text", "1", "extra")], "expected \\(text, label\\)"),
    (lambda p: str(p / "missing.txt"), "file not found"),
])
def test_bad_training_input(tmp_path, make, message):
    with pytest.raises(UserError, match=message):
        SentimentPipeline(SentimentConfig(epochs=1)).fit(make(tmp_path), verbose=0)


def test_bad_config_values():
    with pytest.raises(UserError, match="pooling must be one of"):
        SentimentConfig(pooling="median")
    with pytest.raises(UserError, match="dropout must be in"):
        SentimentConfig(dropout=1.5)
    with pytest.raises(UserError, match="word_dropout must be in"):
        SentimentConfig(word_dropout=1.0)


def test_word_dropout_replaces_about_rate_of_the_words_in_training_only(tmp_path):
    import keras

    from nlp_tasks.layers import WordDropout

    ids = np.random.default_rng(0).integers(2, 500, size=(64, 100)).astype("int32")
    ids[:, 70:] = 0  # padding
    layer = WordDropout(0.3, unk_id=1, seed=5)
    np.testing.assert_array_equal(np.asarray(layer(ids)), ids)  # inference: the identity
    np.testing.assert_array_equal(np.asarray(layer(ids, training=False)), ids)
    dropped = np.asarray(layer(ids, training=True))
    assert dropped.dtype == np.int32
    assert np.all(dropped[:, 70:] == 0)  # padding stays padding (the embedding's mask is kept)
    assert np.all((dropped == ids) | (dropped == 1))  # a word is kept or becomes <unk>, nothing else
    assert 0.27 < np.mean(dropped[:, :70] == 1) < 0.33  # 4,480 words: ~0.3 of them, a 5-sigma band
    again = np.asarray(layer(ids, training=True))
    assert not np.array_equal(again, dropped)  # new draws every step
    np.testing.assert_array_equal(np.asarray(WordDropout(0.0)(ids, training=True)), ids)
    with pytest.raises(ValueError, match="rate must be in"):
        WordDropout(1.0)
    with pytest.raises(ValueError, match="unk_id must be"):
        WordDropout(0.1, unk_id=0)
    model = keras.Sequential([keras.Input((None,), dtype="int32"), WordDropout(0.2, unk_id=3, seed=1)])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True).layers[0]
    assert (type(loaded), loaded.rate, loaded.unk_id, loaded.seed) == (WordDropout, 0.2, 3, 1)


def test_word_dropout_setting_is_off_by_default_and_reloads(tmp_path):
    data = [("good fun", "1"), ("bad film", "0"), ("great", "1"), ("awful , bad", "0")] * 4
    off = SentimentPipeline(SentimentConfig(units=4, embedding_dim=4, epochs=1))
    off.fit(data, verbose=0)
    assert SentimentConfig().word_dropout == 0
    assert not any(layer.name == "word_dropout" for layer in off.model.layers)  # today's model, unchanged
    pipe = SentimentPipeline(SentimentConfig(units=4, embedding_dim=4, epochs=1, word_dropout=0.25))
    pipe.fit(data, data, verbose=0)
    layer = pipe.model.get_layer("word_dropout")
    assert (layer.rate, layer.unk_id) == (0.25, pipe.vocabs["words"].unk_id)
    assert pipe.predict(["good fun"] * 2)[0] == pipe.predict(["good fun"] * 2)[1]  # no dropout at prediction
    loaded = SentimentPipeline.load(pipe.save(tmp_path / "m"))
    assert loaded.config.word_dropout == 0.25
    assert loaded.predict(["good", "bad film"]) == pipe.predict(["good", "bad film"])


def test_read_examples_from_label_text_file(shared_data):
    examples = read_examples(shared_data / "sst" / "sst5.dev.txt")
    assert len(examples) == 1101 and {label for _, label in examples} == {"0", "1", "2", "3", "4"}


def cli(*args):
    return forked.run(["sentiment", *args], cwd=ROOT, timeout=300)


def test_cli_train_evaluate_predict(tmp_path, shared_data, capsys):
    train = tmp_path / "train.txt"
    train.write_text("\n".join(f"{label} {text}" for text, label in sst_sample(shared_data, "train", 120)),
                     encoding="utf-8")
    out = tmp_path / "model"
    result = cli("train", "--train", str(train), "--dev", str(train), "--test", str(train), "--out", str(out),
                 "--epochs", "1", "--units", "8", "--embedding-dim", "8", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout)["test"]["examples"] == 120
    from nlp_tasks.cli.main import main  # evaluate and predict in this process: no TensorFlow start each

    assert main(["sentiment", "evaluate", str(out), "--data", str(train), "--png", str(tmp_path / "cm.png")]) == 0
    assert "macro F1" in capsys.readouterr().out and (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["sentiment", "predict", str(out), "what a film", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["text"] == "what a film"


@pytest.mark.parametrize("args, message", [
    (["predict", "{missing}"], "nothing to predict"),
    (["predict", "{missing}", "text"], "model folder not found"),
    (["evaluate", "{tmp}", "--data", "x.txt"], "not a model folder"),
    (["train", "--train", "{empty}", "--out", "{tmp}/m"], "no examples"),
    (["train", "--train", "{tmp}", "--out", "{tmp}/m"], "could not load data set"),
    (["train", "--train", "x.txt", "--out", "{tmp}/m", "--epochs", "0"], "Invalid value for '--epochs'"),
])
def test_cli_errors_are_one_line(tmp_path, args, message):
    (tmp_path / "empty.txt").write_text("")
    args = [a.format(tmp=tmp_path, missing=tmp_path / "missing", empty=tmp_path / "empty.txt") for a in args]
    result = cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def _counting_data(n=64, steps=6):
    """Is the sum of a ±1 sequence positive? (as in tests/nlp_tasks/test_training.py)"""
    import tensorflow as tf

    x = np.random.default_rng(0).choice([-1.0, 1.0], size=(n, steps, 1)).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, (x.sum(axis=(1, 2)) > 0).astype("float32"))).batch(16)


def _small_model():
    import keras

    from nlp_tasks.layers import recurrent
    from nlp_tasks.runtime import set_seed

    set_seed(0)
    inputs = keras.Input((None, 1))
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(recurrent("gru", 8)(inputs)))


class _Interrupt(Exception):
    pass


def test_average_weights_are_validated_kept_and_resumed(tmp_path):
    import keras

    from nlp_tasks.config import TrainSettings
    from nlp_tasks.training import TrainingPlan, fit, make_optimizer

    assert not make_optimizer(TrainSettings()).use_ema  # off unless asked for: today's training
    data, settings = _counting_data(), TrainSettings(epochs=3, learning_rate=0.02, patience=None)

    def run(average, out=None, callbacks=()):
        model = _small_model()
        plan = TrainingPlan(data, loss="binary_crossentropy", validation=data, callbacks=list(callbacks),
                            average_weights=average)
        return model, fit(model, plan, settings, out_dir=out)

    plain, plain_summary = run(None)
    averaged, summary = run(0.9)
    assert averaged.optimizer.use_ema and averaged.optimizer.ema_momentum == 0.9
    assert summary["history"]["val_loss"] != plain_summary["history"]["val_loss"]  # validated: the averages
    assert summary["history"]["loss"] == plain_summary["history"]["loss"]  # training itself is the same
    # The model left at the end is the validated best epoch's averaged weights.
    np.testing.assert_allclose(averaged.evaluate(data, verbose=0), summary["best"], rtol=1e-5)

    reference, _ = run(0.9, tmp_path / "reference")

    class StopInEpoch2(keras.callbacks.Callback):  # runs before the checkpoint of epoch 2 is written
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise _Interrupt

    with pytest.raises(_Interrupt):
        run(0.9, tmp_path / "killed", [StopInEpoch2()])
    resumed, resumed_summary = run(0.9, tmp_path / "killed")
    assert resumed_summary["resumed_from_epoch"] == 1
    assert resumed_summary["history"] == summary["history"]
    for a, b in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_average_weights_setting_trains_and_reloads(tmp_path):
    data = [("good fun", "1"), ("bad film", "0"), ("great", "1"), ("awful , bad", "0")] * 4
    with pytest.raises(UserError, match="average_weights must be in"):
        SentimentConfig(average_weights=1.0)
    assert SentimentConfig().average_weights is None
    pipe = SentimentPipeline(SentimentConfig(units=4, embedding_dim=4, epochs=2, average_weights=0.99))
    summary = pipe.fit(data, data, verbose=0)
    assert pipe.model.optimizer.use_ema
    assert pipe.evaluate(data)["accuracy"] == pytest.approx(summary["best"])
    loaded = SentimentPipeline.load(pipe.save(tmp_path / "m"))
    assert loaded.config.average_weights == 0.99
    assert loaded.predict(["good", "bad film"]) == pipe.predict(["good", "bad film"])
