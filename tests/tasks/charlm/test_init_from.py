"""A saved language model trained further on new text (``charlm train --init-from MODEL``,
ULMFiT's second step): the new model starts as the saved one (its logits over the saved
vocabulary equal the saved model's; an added token's logit is the mean of the others', its
embedding row the mean row), keeps the saved model's shape and direction, records where it
started, and refuses a mismatch, a missing model or a prepared store in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nlp_tasks.errors import UserError
from nlp_tasks.saving.model_checks import OUTPUT_LAYER, embedding_layer_name
from nlp_tasks.text.vocab import BOS_ID
from tasks.charlm import LanguageModelConfig, LanguageModelPipeline
from tests import forked

OLD = ["the cat sat on the mat", "a dog ran to the red house", "the big cat ran on a mat"]
NEW = ["the movies were a thriller", "a predictable thriller , the cat sat", "movies on the mat"]
SHAPE = dict(cell="gru", units=6, layers=2, embedding_dim=5)


def _lm(level, embedding_dim, reverse=False):
    return LanguageModelPipeline(LanguageModelConfig(level=level, mode="lines", batch_size=4, epochs=1, lower=True,
                                                     valid_fraction=0, reverse=reverse,
                                                     **{**SHAPE, "embedding_dim": embedding_dim}))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Saved models: words with an embedding table (forwards and backwards), characters one-hot."""
    folder = tmp_path_factory.mktemp("saved-lms")
    paths = {}
    for name, level, dim, reverse in (("words", "word", 5, False), ("backward", "word", 5, True),
                                      ("chars", "char", None, False)):
        lm = _lm(level, dim, reverse)
        lm.fit(OLD * 4, verbose=0)
        paths[name] = lm.save(folder / name)
    return paths


@pytest.mark.parametrize("name", ["words", "chars"])
def test_the_new_model_starts_as_the_saved_one_with_added_tokens_at_the_mean(saved, name):
    old = LanguageModelPipeline.load(saved[name])
    pipe = LanguageModelPipeline(old.config)
    data = pipe.read_training_data(NEW, init_from=str(saved[name]))
    model = pipe.build_training_model(data, run=None)
    known = len(old.vocab)
    added = [",", "movies", "predictable", "thriller", "were"] if name == "words" else [",", "l", "p", "v", "w"]
    assert sorted(pipe.vocab.tokens[known:]) == sorted(added)
    assert pipe.vocab.tokens[:known] == old.vocab.tokens
    ids = np.array([[BOS_ID, *old.vocab.encode("the cat sat on a mat")]])
    theirs, mine = old.model.predict(ids, verbose=0), model.predict(ids, verbose=0)
    np.testing.assert_allclose(mine[..., :known], theirs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mine[..., known:], np.repeat(theirs.mean(-1, keepdims=True), len(added), -1),
                               rtol=1e-5, atol=1e-5)
    if name == "words":
        table = old.model.get_layer(embedding_layer_name("words")).get_weights()[0]
        np.testing.assert_allclose(model.get_layer(embedding_layer_name("words")).get_weights()[0][known:],
                                   np.tile(table.mean(0), (len(added), 1)), rtol=1e-6)
    assert data.counts["init_from"]["path"] == str(saved[name])


def test_it_trains_further_saves_and_records_where_it_started(saved, tmp_path):
    old = LanguageModelPipeline.load(saved["words"])
    pipe = LanguageModelPipeline(old.config.replace(epochs=2, learning_rate=1e-2))
    pipe.fit(NEW * 4, verbose=0, init_from=str(saved["words"]))
    rows = pipe.model.get_layer(OUTPUT_LAYER).get_weights()[0][:, :len(old.vocab)]
    assert not np.array_equal(rows, old.model.get_layer(OUTPUT_LAYER).get_weights()[0])  # it trained
    loaded = LanguageModelPipeline.load(pipe.save(tmp_path / "further"))
    assert loaded.score("a predictable thriller")["unknown"] == []
    assert loaded.metrics["training"]["init_from"]["path"] == str(saved["words"])


def test_a_forward_and_a_backward_model_trained_on_the_same_text_keep_one_vocabulary(saved):
    vocabs = []
    for name in ("words", "backward"):
        pipe = LanguageModelPipeline(LanguageModelPipeline.load(saved[name]).config)
        pipe.read_training_data(NEW, init_from=str(saved[name]))
        vocabs.append(pipe.vocab)
    assert vocabs[0] == vocabs[1]  # ready to be sentiment --init-from FWD,BWD


def test_mismatches_and_stores_are_refused_in_one_line(saved, tmp_path):
    path = str(saved["words"])
    for settings, message in (({**SHAPE, "units": 7}, "has units 6 \\(here 7\\); a model trained further keeps"),
                              ({**SHAPE, "layers": 1}, "has layers 2 \\(here 1\\)"),
                              ({**SHAPE, "units": 6, "reverse": True}, "has reverse False \\(here True\\)")):
        settings = {"level": "word", **settings}
        with pytest.raises(UserError, match=message):
            LanguageModelPipeline(LanguageModelConfig(lower=True, **settings)).fit(NEW, verbose=0, init_from=path)
    with pytest.raises(UserError, match="is not a saved model folder"):
        _lm("word", 5).fit(NEW, verbose=0, init_from=str(tmp_path))
    from tasks.charlm.prepared import prepare

    store = tmp_path / "store"
    (tmp_path / "new.txt").write_text("\n".join(NEW * 10), encoding="utf-8")
    prepare(str(tmp_path / "new.txt"), store, LanguageModelPipeline.load(path).config)
    with pytest.raises(UserError, match="not a store prepared by 'charlm prepare'"):
        _lm("word", 5).fit(str(store), verbose=0, init_from=path)


def test_the_command_line_takes_the_shape_and_direction_from_the_saved_model(saved, tmp_path):
    text = tmp_path / "new.txt"
    text.write_text("\n".join(NEW * 4) + "\n", encoding="utf-8")
    result = forked.run(["charlm", "train", "--train", str(text), "--out", str(tmp_path / "m"), "--epochs", "1",
                         "--mode", "lines", "--init-from", str(saved["backward"]), "--json"], timeout=300)
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "m" / "pipeline.json").read_text(encoding="utf-8"))["config"]
    assert {k: config[k] for k in SHAPE} == SHAPE and config["reverse"] and config["lower"]
    for extra, message in ((["--units", "9"], "has units 6 (here 9)"),
                           (["--prepared", str(tmp_path / "s")], "cannot be trained further yet")):
        result = forked.run(["charlm", "train", "--train", str(text), "--out", str(tmp_path / "x"), "--epochs", "1",
                             "--init-from", str(saved["words"]), *extra], timeout=300)
        assert result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr
        assert not (tmp_path / "x").exists()
    result = forked.run(["charlm", "train", "--train", str(text), "--out", str(tmp_path / "x"),
                         "--init-from", str(tmp_path / "nowhere")], timeout=300)
    assert result.returncode != 0 and "--init-from:" in result.stderr and "model folder not found" in result.stderr
