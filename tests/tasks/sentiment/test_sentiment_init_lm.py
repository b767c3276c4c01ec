"""Sentiment started from word-level language models (``--init-from FWD[,BWD]``): the classifier
takes their vocabulary, embedding table and lowest recurrent layers (the forward model's as the
forward half, the backward model's as the backward half), trains, saves and loads; mismatches are
refused in one line; the command line takes the shape from the forward model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nlp_tasks.errors import UserError
from nlp_tasks.saving.model_checks import embedding_layer_name
from tasks.charlm import LanguageModelConfig, LanguageModelPipeline
from tasks.sentiment import SentimentConfig, SentimentPipeline
from tests import forked

GOOD = ["a witty and moving film", "a gorgeous , funny ride", "the best film of the year", "warm and witty"]
BAD = ["a dull and boring film", "the worst film of the year", "a tedious , silly mess", "flat and dull"]
EXAMPLES = [(t, "1") for t in GOOD] + [(t, "0") for t in BAD]
SHAPE = dict(cell="gru", units=6, embedding_dim=5)


@pytest.fixture(scope="module")
def word_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("word-lms")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(GOOD + BAD) * 5 + "\n", encoding="utf-8")
    paths = {}
    for name, reverse in (("fwd", False), ("bwd", True)):
        lm = LanguageModelPipeline(LanguageModelConfig(level="word", mode="lines", layers=1, batch_size=4, epochs=1,
                                                       reverse=reverse, valid_fraction=0, **SHAPE))
        lm.fit(corpus, verbose=0)
        paths[name] = lm.save(folder / name)
    return paths


def test_the_classifier_starts_from_the_language_models_weights(word_models):
    pipe = SentimentPipeline(SentimentConfig(epochs=1, **SHAPE))
    data = pipe.read_training_data(EXAMPLES, EXAMPLES, init_from=f"{word_models['fwd']},{word_models['bwd']}")
    model = pipe.build_model(**data.build)
    fwd, bwd = (LanguageModelPipeline.load(word_models[k]) for k in ("fwd", "bwd"))
    assert pipe.vocabs["words"] == fwd.vocab
    np.testing.assert_array_equal(model.get_layer(embedding_layer_name("words")).get_weights()[0],
                                  fwd.model.get_layer(embedding_layer_name("words")).get_weights()[0])
    encoder = model.get_layer("encoder_1")
    for half, lm in ((encoder.forward_layer, fwd), (encoder.backward_layer, bwd)):
        for mine, theirs in zip(half.get_weights(), lm.model.get_layer("rnn_1").get_weights()):
            np.testing.assert_array_equal(mine, theirs)
    assert [seen["path"] for seen in data.counts["init_from"]] == [str(word_models["fwd"]), str(word_models["bwd"])]


def test_training_words_the_language_model_lacks_are_added_with_the_mean_row(word_models):
    """The vocabulary is the LM's, then the training words it lacks (most frequent first; --min-freq
    and --max-vocab choose them as without an LM); their embedding rows start as the mean of the LM's."""
    new = [("a thriller , a thriller", "1"), ("predictable thriller", "0"), ("one predictable film", "0")]
    pipe = SentimentPipeline(SentimentConfig(epochs=1, **SHAPE))
    data = pipe.read_training_data(EXAMPLES + new, init_from=str(word_models["fwd"]))
    model = pipe.build_model(**data.build)
    lm = LanguageModelPipeline.load(word_models["fwd"])
    vocab = pipe.vocabs["words"]
    assert vocab.tokens == lm.vocab.tokens + ["thriller", "predictable", "one"]
    table = lm.model.get_layer(embedding_layer_name("words")).get_weights()[0]
    mine = model.get_layer(embedding_layer_name("words")).get_weights()[0]
    np.testing.assert_array_equal(mine[:len(table)], table)
    np.testing.assert_allclose(mine[len(table):], np.tile(table.mean(axis=0), (3, 1)), rtol=1e-6)
    assert vocab.encode("a thriller") == [lm.vocab.encode("a")[0], len(table)]
    limited = SentimentPipeline(SentimentConfig(epochs=1, min_freq=3, **SHAPE))
    limited.read_training_data(EXAMPLES + new, init_from=str(word_models["fwd"]))
    assert limited.vocabs["words"].tokens == lm.vocab.tokens + ["thriller"]  # seen 3 times; "predictable" twice


def test_it_trains_saves_and_loads(word_models, tmp_path):
    pipe = SentimentPipeline(SentimentConfig(epochs=2, learning_rate=1e-2, **SHAPE))
    pipe.fit(EXAMPLES, EXAMPLES, verbose=0, init_from=str(word_models["fwd"]))
    loaded = SentimentPipeline.load(pipe.save(tmp_path / "model"))
    assert loaded.predict(GOOD) == pipe.predict(GOOD)
    assert pipe.metrics["training"]["init_from"][0]["path"] == str(word_models["fwd"])


def test_ulmfit_gradual_unfreezing_keeps_the_language_models_weights_while_the_top_learns(word_models):
    """ULMFiT's options (``--gradual-unfreezing``, ``--discriminative-lr``): after one epoch only the
    layers above the encoder have moved; after two, the first encoder layer too, not the embedding."""
    spec = f"{word_models['fwd']},{word_models['bwd']}"
    fwd = LanguageModelPipeline.load(word_models["fwd"]).model
    table = fwd.get_layer(embedding_layer_name("words")).get_weights()[0]
    layer = fwd.get_layer("rnn_1").get_weights()
    for epochs, encoder_moved in ((1, False), (2, True)):
        pipe = SentimentPipeline(SentimentConfig(epochs=epochs, learning_rate=1e-2, gradual_unfreezing=True,
                                                 discriminative_lr=2.6, **SHAPE))
        pipe.fit(EXAMPLES, verbose=0, init_from=spec)  # no validation: the last epoch's weights are kept
        np.testing.assert_array_equal(pipe.model.get_layer(embedding_layer_name("words")).get_weights()[0], table)
        moved = [not np.array_equal(mine, theirs)
                 for mine, theirs in zip(pipe.model.get_layer("encoder_1").forward_layer.get_weights(), layer)]
        assert any(moved) == encoder_moved and all(moved) == encoder_moved, (epochs, moved)


def test_mismatches_are_refused_in_one_line(word_models, tmp_path):
    fwd, bwd = str(word_models["fwd"]), str(word_models["bwd"])
    char_lm = LanguageModelPipeline(LanguageModelConfig(layers=1, epochs=1, batch_size=2, window=8, **SHAPE))
    char_lm.fit(["a witty film " * 20], verbose=0)
    char = str(char_lm.save(tmp_path / "char"))
    cases = [(SHAPE, f"{bwd}", "reads text backwards"),
             ({**SHAPE, "units": 7}, fwd, "has units 6 \\(here 7\\); the classifier must have the same"),
             (SHAPE, char, "is not a word-level language model")]
    for settings, spec, message in cases:
        with pytest.raises(UserError, match=message):
            SentimentPipeline(SentimentConfig(epochs=1, **settings)).fit(EXAMPLES, verbose=0, init_from=spec)
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("film 1 1 1 1 1\n", encoding="utf-8")
    with pytest.raises(UserError, match="give one of them"):
        SentimentPipeline(SentimentConfig(epochs=1, **SHAPE)).fit(EXAMPLES, verbose=0, init_from=fwd,
                                                                  embeddings=str(vectors))


def test_the_command_line_takes_the_shape_from_the_forward_model(word_models, tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("".join(f"{label} {text}\n" for text, label in EXAMPLES), encoding="utf-8")
    result = forked.run(["sentiment", "train", "--train", str(train), "--out", str(tmp_path / "m"), "--epochs", "1",
                         "--init-from", f"{word_models['fwd']},{word_models['bwd']}", "--json"], timeout=300)
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "m" / "pipeline.json").read_text(encoding="utf-8"))["config"]
    assert {k: config[k] for k in SHAPE} == SHAPE
