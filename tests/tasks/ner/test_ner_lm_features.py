"""NER with contextual character-LM features (``ner train --lm-features FWD,BWD``): the features
in the tagger's graph are the standalone language models' states at the words' boundaries; the
language models stay frozen (or are fine-tuned when asked); the tagger saves, loads and predicts
on its own; bad language models are refused in one line."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from nlp_tasks.errors import UserError
from nlp_tasks.text.vocab import BOS_ID
from tasks.charlm import LanguageModelConfig, LanguageModelPipeline
from tasks.ner import NERConfig, NERPipeline
from tasks.ner import lm_features as lmf
from tests import forked
from tests.export_client import endpoint

TEXT = ("EU rejects German call to boycott British lamb .\nPeter Blackburn met officials in Brussels .\n"
        "The European Commission said on Thursday it disagreed with German advice to consumers .\n") * 6
SENTENCES = [(["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
              ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]),
             (["Peter", "Blackburn", "met", "officials", "in", "Brussels", "."],
              ["B-PER", "I-PER", "O", "O", "O", "B-LOC", "O"]),
             (["BRUSSELS", "1996-08-22"], ["B-LOC", "O"])] * 4
TINY = dict(units=8, char_units=4, word_dim=8, char_dim=4, case_dim=2, batch_size=4, epochs=2, patience=None,
            learning_rate=1e-2)


@pytest.fixture(scope="module")
def language_models(tmp_path_factory):
    """A forward and a backward character model (2 layers, untrained beyond one short epoch), saved."""
    folder = tmp_path_factory.mktemp("lms")
    paths = {}
    for name, reverse in (("fwd", False), ("bwd", True)):
        lm = LanguageModelPipeline(LanguageModelConfig(units=6, layers=2, embedding_dim=4, batch_size=2, window=16,
                                                       epochs=1, reverse=reverse, valid_fraction=0))
        lm.fit([TEXT], verbose=0)
        paths[name] = lm.save(folder / name)
    return paths


@pytest.fixture(scope="module")
def tagger(language_models, tmp_path_factory):
    pipe = NERPipeline(NERConfig(**TINY))
    summary = pipe.fit(SENTENCES, verbose=0, lm_features=f"{language_models['fwd']},{language_models['bwd']}")
    return pipe, summary, pipe.save(tmp_path_factory.mktemp("ner") / "tagger")


def standalone_states(path, text: str) -> np.ndarray:
    """The saved language model's top-layer states over ``<bos>`` + ``text``, run alone."""
    lm = LanguageModelPipeline.load(path)
    top = keras.Model(lm.model.input, lm.model.get_layer(f"rnn_{lm.config.layers}").output)
    return np.asarray(top(np.array([[BOS_ID] + lm.vocab.encode(text)], np.int32)))[0]


def test_features_in_the_graph_are_the_standalone_models_states_at_word_boundaries(tagger, language_models):
    pipe = tagger[0]
    tokens = ["Peter", "Blackburn", "met", "officials", "in", "Brussels", "."]
    inputs = pipe.encode([tokens])
    forward = np.asarray(pipe.model.get_layer("lm_forward")(list(inputs[3:5])))[0]
    backward = np.asarray(pipe.model.get_layer("lm_backward")(list(inputs[5:7])))[0]
    sentence = " ".join(tokens)
    fwd_states = standalone_states(language_models["fwd"], "\n" + sentence + " ")
    bwd_states = standalone_states(language_models["bwd"], "\n" + sentence[::-1] + " ")
    start = 0
    for i, token in enumerate(tokens):
        end = start + len(token)  # the space after the token in `sentence + " "`
        # state index = 1 (<bos>) + 1 ("\n") + the index of the character just read
        np.testing.assert_allclose(forward[i], fwd_states[2 + end], atol=1e-5)
        # backwards, the space before the token is read just after its first character
        np.testing.assert_allclose(backward[i], bwd_states[2 + len(sentence) - start], atol=1e-5)
        start = end + 1


def test_the_language_models_stay_frozen_and_travel_with_the_saved_tagger(tagger, language_models):
    pipe, summary, path = tagger
    for direction, name in (("forward", "fwd"), ("backward", "bwd")):
        lm = LanguageModelPipeline.load(language_models[name])
        layer = pipe.model.get_layer(f"lm_{direction}")
        assert not layer.trainable
        for mine, theirs in zip(layer.get_weights(), lm.model.get_weights()):  # embedding, rnn_1, rnn_2 first
            np.testing.assert_array_equal(mine, theirs)
    seen = summary["lm_features"]
    assert [s["path"] for s in seen] == [str(language_models["fwd"]), str(language_models["bwd"])]
    assert all(len(s["sha256"]) == 64 for s in seen)
    loaded = NERPipeline.load(path)
    assert sorted(loaded.vocabs) == ["chars", "lm_backward", "lm_forward", "words"]
    text = "Peter Blackburn met officials of the European Union in Brussels."
    assert loaded.predict(text) == pipe.predict(text)
    assert loaded.tag([["EU", "rejects", "German", "call"]]) == pipe.tag([["EU", "rejects", "German", "call"]])
    assert loaded.analyse([text])[0]["entities"] == pipe.predict(text)  # what `nlp-tasks serve` answers with


def test_the_graph_computes_the_language_models_inputs_as_python_does():
    import tensorflow as tf

    from nlp_tasks.export.text import lookup_table
    from nlp_tasks.text.vocab import Vocabulary

    sentences = [["Zürich", "said", "?"], ["a"], ["BRUSSELS", "1996-08-22", "naïve", "x"]]
    padded = tf.constant([s + [""] * (4 - len(s)) for s in sentences])
    for lower, start in ((False, "\n"), (True, "")):
        vocab = Vocabulary.build(["Brussels said a x 19-08 " + start], level="char", lower=lower)
        for direction in lmf.DIRECTIONS:
            ids, positions = lmf.encode(vocab, sentences, direction)
            got_ids, got_positions = lmf.graph_inputs(lookup_table(vocab), vocab, padded, direction)
            np.testing.assert_array_equal(got_ids.numpy(), ids, err_msg=f"{direction} lower={lower}")
            np.testing.assert_array_equal(got_positions.numpy()[:, :positions.shape[1]], positions)


def test_the_tagger_exports_as_savedmodel_and_onnx_and_tags_as_the_pipeline(tagger, tmp_path):
    pipe = tagger[0]
    sentences = [["Peter", "Blackburn", "met", "officials", "in", "Brussels", "."], ["EU", "rejects", "German", "call"],
                 ["BRUSSELS", "1996-08-22"]]
    tags, _ = pipe.tag(sentences)
    index = {t: i for i, t in enumerate(pipe.labels)}
    inputs = pipe.encode(sentences)
    names = ["word_ids", "case_ids", "char_ids"] + [f"lm_{d}_{p}" for d in lmf.DIRECTIONS for p in ("ids", "positions")]
    for fmt in ("savedmodel", "onnx"):
        description = pipe.export(tmp_path / fmt, format=fmt)
        assert [e["direction"] for e in description["lm_features"]] == ["forward", "backward"]
        out = endpoint(fmt, str(tmp_path / fmt), "tag_ids")(**dict(zip(names, inputs)))
        for row, t in enumerate(tags):
            assert out["tag_ids"][row, :len(t)].tolist() == [index[x] for x in t], fmt
    serve = endpoint("savedmodel", str(tmp_path / "savedmodel"), "serve")(
        tokens=np.array([s + [""] * (7 - len(s)) for s in sentences]))
    for row, t in enumerate(tags):
        assert [x.decode() for x in serve["tags"][row, :len(t)]] == t
    with pytest.raises(UserError, match="exports as savedmodel or onnx, not litert"):
        pipe.export(tmp_path / "litert", format="litert")
    assert not (tmp_path / "litert").exists()


def test_fine_tuning_moves_the_language_models_weights(language_models):
    pipe = NERPipeline(NERConfig(**{**TINY, "epochs": 1}, lm_fine_tune=True))
    pipe.fit(SENTENCES, verbose=0, lm_features=str(language_models["fwd"]))
    assert "lm_backward" not in pipe.vocabs
    layer = pipe.model.get_layer("lm_forward")
    lm = LanguageModelPipeline.load(language_models["fwd"])
    assert layer.trainable
    assert not np.allclose(layer.get_weights()[-1], lm.model.get_layer("rnn_2").get_weights()[-1])


def test_wrong_language_models_are_refused_in_one_line(language_models, tmp_path):
    fwd, bwd = str(language_models["fwd"]), str(language_models["bwd"])
    for spec, message in ((f"{bwd},{fwd}", "reads text backwards; the forward model must not be trained with"),
                          (f"{fwd},{fwd}", "reads text forwards; the backward model must be trained with --reverse"),
                          (str(tmp_path / "missing"), "is not a saved model folder"),
                          (f"{fwd},{bwd},{fwd}", "takes FWD_MODEL or FWD_MODEL,BWD_MODEL")):
        with pytest.raises(UserError, match=message):
            NERPipeline(NERConfig(**TINY)).fit(SENTENCES, verbose=0, lm_features=spec)


def test_cli_trains_a_tagger_with_lm_features(language_models, tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in zip(*s)) for s in SENTENCES) + "\n",
                     encoding="utf-8")
    out = tmp_path / "model"
    result = forked.run(["ner", "train", "--train", str(train), "--out", str(out), "--units", "4", "--word-dim", "4",
                         "--char-units", "2", "--epochs", "1", "--json",
                         "--lm-features", f"{language_models['fwd']},{language_models['bwd']}"], timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["lm_features"][1]["path"] == str(language_models["bwd"])
    bad = forked.run(["ner", "train", "--train", str(train), "--out", str(tmp_path / "m2"), "--epochs", "1",
                      "--lm-features", str(tmp_path)], timeout=300)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "is not a saved model folder" in bad.stderr
