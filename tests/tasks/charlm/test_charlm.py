"""Language model: data layout, TBPTT, the compiled sampler, scoring, save/load, bad input, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nlp_tasks.cli import main as cli
from nlp_tasks.errors import UserError
from nlp_tasks.text.vocab import BOS_ID, EOS_ID, Vocabulary
from tasks.charlm import LanguageModelConfig, LanguageModelPipeline
from tasks.charlm import data as cd

NAMES = ["allosaurus", "brachiosaurus", "diplodocus", "stegosaurus", "triceratops", "velociraptor", "ankylosaurus",
         "iguanodon", "spinosaurus", "tyrannosaurus", "gallimimus", "oviraptor", "megalosaurus", "compsognathus"]


@pytest.fixture(scope="module")
def shakespeare(shared_data):
    return (shared_data / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")[:40000]


@pytest.fixture(scope="module")
def trained(shakespeare, tmp_path_factory):
    lm = LanguageModelPipeline(LanguageModelConfig(units=48, layers=2, embedding_dim=16, batch_size=8, window=40,
                                                   epochs=3, dropout=0.0, learning_rate=5e-3, patience=None))
    summary = lm.fit([shakespeare], verbose=0)
    return lm, summary, lm.save(tmp_path_factory.mktemp("models") / "lm")


# ---------------------------------------------------------------------- data layout
def test_stream_rows_predict_every_token_exactly_once():
    ids = np.arange(4, 107, dtype=np.int32)  # 103 tokens
    x, y = cd.stream_rows(ids, rows=4, pad_last=True)
    assert x.shape == y.shape == (4, 26)
    np.testing.assert_array_equal(y.reshape(-1)[: len(ids)], ids)  # row-major: contiguous pieces, nothing lost
    assert (y.reshape(-1)[len(ids):] == 0).all()
    assert (x[:, 0] == BOS_ID).all() and (x[:, 1:] == y[:, :-1]).all()  # inputs = targets shifted right
    x, y = cd.stream_rows(ids, rows=4)  # training drops the 3 leftover tokens instead
    assert y.shape == (4, 25) and (y > 0).all()
    chunks = cd.windows(x, y, 10)
    assert [c[0].shape[1] for c in chunks] == [10, 10]
    assert [c[0].shape[1] for c in cd.windows(x, y, 10, drop_last=False)] == [10, 10, 5]


def test_stream_encoding_and_split():
    chars = Vocabulary.build(["ab\nba"], level="char")
    assert cd.encode_stream(["ab\nba", "ab"], chars).tolist() == chars.encode("ab\nba") + [EOS_ID] + chars.encode("ab")
    words = Vocabulary.build(["a b", "b a"], level="word")
    ids = cd.encode_stream(["a b\n\nb a\n"], words).tolist()
    assert ids == words.encode("a b") + [EOS_ID] + words.encode("b a") + [EOS_ID]
    assert cd.split_fraction("0123456789", 0.1) == ("012345678", "9")


def test_read_corpus_sources(tmp_path):
    (tmp_path / "a.txt").write_text("first", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("second", encoding="utf-8")
    (tmp_path / ".hidden").write_text("never", encoding="utf-8")
    assert cd.read_corpus(tmp_path) == ["first", "second"]
    assert cd.read_corpus(tmp_path / "a.txt") == ["first"]
    docs = cd.read_corpus(cd.BUILTIN)
    assert len(docs) == 1 and len(docs[0]) > 100_000 and "assert" in docs[0]


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("", encoding="utf-8"), "empty"),
    (lambda p: p.write_text("  \n\n", encoding="utf-8"), "empty"),
    (lambda p: p.write_bytes(b"caf\xe9 au lait"), "not valid UTF-8"),
    (lambda p: p.write_text("aaaaaaaa", encoding="utf-8"), "1 distinct char"),
])
def test_bad_corpora_are_refused_clearly(tmp_path, make, message):
    path = tmp_path / "corpus.txt"
    make(path)
    with pytest.raises(UserError, match=message):
        LanguageModelPipeline(LanguageModelConfig(units=8, layers=1, epochs=1)).fit(path, verbose=0)


def test_missing_and_empty_folder(tmp_path):
    with pytest.raises(UserError, match="not found"):
        cd.read_corpus(tmp_path / "nope.txt")
    with pytest.raises(UserError, match="no files"):
        cd.read_corpus(tmp_path)


# ---------------------------------------------------------------------- the model
def test_token_features_zero_start_and_one_hot():
    from nlp_tasks.layers import TokenFeatures

    ids = np.array([[BOS_ID, 5, 0]])
    embed = TokenFeatures(10, 4)
    x = np.asarray(embed(ids))
    assert np.all(x[0, 0] == 0) and np.any(x[0, 1] != 0) and np.all(x[0, 2] == 0)  # x<1> = 0; padding 0
    assert np.asarray(embed.compute_mask(ids)).tolist() == [[True, True, False]]
    one_hot = np.asarray(TokenFeatures(10, None)(ids))
    assert one_hot.shape == (1, 3, 10) and one_hot[0, 0].sum() == 0 and one_hot[0, 1, 5] == 1


def test_training_lowers_the_loss_and_keeps_the_best_epoch(trained, shakespeare):
    lm, summary, _ = trained
    val = summary["history"]["val_nats"]
    assert val[-1] < val[0] < math.log(len(lm.vocab))  # better than the uniform guess, and improving
    assert summary["history"]["loss"][-1] < summary["history"]["loss"][0]
    # The saved (stateless) model scores the held-out tenth exactly as validation did.
    held_out = shakespeare[int(len(shakespeare) * 0.9):]
    report = lm.evaluate([held_out])
    assert report["tokens"] == len(held_out)
    assert report["nats_per_char"] == pytest.approx(min(val), rel=1e-5)
    assert report["bits_per_char"] == pytest.approx(min(val) / math.log(2), rel=1e-5)


def test_truncated_bptt_carries_the_state_between_windows(trained, shakespeare):
    lm, _, _ = trained
    text = [shakespeare[:3000]]
    short = lm.evaluate(text, batch_size=4)["nats_per_token"]
    lm.config = lm.config.replace(window=1000)  # one window per row: no carrying needed
    try:
        whole = lm.evaluate(text, batch_size=4)["nats_per_token"]
    finally:
        lm.config = lm.config.replace(window=40)
    assert short == pytest.approx(whole, rel=1e-5)


def test_compiled_step_equals_the_sequence_model(trained):
    lm, _, _ = trained
    ids = [BOS_ID] + lm.vocab.encode("ROMEO: But soft, what light")
    full = np.asarray(lm.model(np.array([ids]), training=False))[0]
    step = lm.step_function()
    states = step.zero_state(1)
    for t, token in enumerate(ids):
        logits, states = step([token], states)
        np.testing.assert_allclose(logits[0], full[t], atol=1e-4)


def test_score_is_the_sum_of_token_log_probabilities(trained):
    lm, _, _ = trained
    result = lm.score("to be or not")
    probs = [p for _, p in result["probabilities"]]
    assert [tok for tok, _ in result["probabilities"]] == list("to be or not")  # char stream: no <eos>
    assert result["log_prob"] == pytest.approx(sum(math.log(p) for p in probs), rel=1e-6)
    assert result["perplexity"] == pytest.approx(math.exp(-result["log_prob"] / 12), rel=1e-6)
    both = lm.score(["the king", "xq zjv"])
    assert both[0]["log_prob"] > both[1]["log_prob"]


def test_sampling_is_reproducible_and_respects_its_options(trained):
    lm, _, _ = trained
    a = lm.generate("ROMEO:", length=60, temperature=0.8, seed=3)
    assert a == lm.generate("ROMEO:", length=60, temperature=0.8, seed=3)
    assert a.startswith("ROMEO:") and len(a) == len("ROMEO:") + 60
    assert a != lm.generate("ROMEO:", length=60, temperature=0.8, seed=4)
    many = lm.generate(length=20, seed=1, top_k=5, top_p=0.9, n=3)
    assert len(many) == 3 and all(len(s) == 20 for s in many)
    greedy = lm.generate("The ", length=15, temperature=0)
    assert greedy == lm.generate("The ", length=15, temperature=0, seed=99)
    beam = lm.generate("The ", length=15, beam=4)
    assert beam.startswith("The ") and len(beam) <= 19
    assert "<" not in lm.generate(length=200, seed=0, no_unk=True)


def test_the_former_name_sample_still_works_and_says_so(trained):
    """Issue 35 item 9: one verb (``generate``) in every task; ``sample`` and ``sample_many`` warn."""
    lm, _, _ = trained
    with pytest.warns(DeprecationWarning, match="LanguageModelPipeline.sample is deprecated.*use generate"):
        old = lm.sample("ROMEO:", length=30, temperature=0.8, seed=3)
    assert old == lm.generate("ROMEO:", length=30, temperature=0.8, seed=3)
    with pytest.warns(DeprecationWarning, match=r"use generate\(\.\.\., n=N\)"):
        assert lm.sample_many(2, "A", 10, 1.0, None, None, None, 1) == lm.generate("A", length=10, seed=1, n=2)
    with pytest.warns(DeprecationWarning):
        assert lm.sample_many(1, "A", length=10, seed=1) == [lm.generate("A", length=10, seed=1)]


def test_save_load_round_trip(trained):
    lm, _, path = trained
    loaded = LanguageModelPipeline.load(path)
    assert loaded.vocab == lm.vocab and loaded.config == lm.config
    assert loaded.score("good morrow")["log_prob"] == pytest.approx(lm.score("good morrow")["log_prob"], rel=1e-6)
    assert loaded.generate("A", length=30, seed=5) == lm.generate("A", length=30, seed=5)


def test_inconsistent_vocabulary_is_refused(trained, tmp_path):
    import shutil

    _, _, path = trained
    copy = tmp_path / "lm"
    shutil.copytree(path, copy)
    data = json.loads((copy / "vocab-chars.json").read_text(encoding="utf-8"))
    data["tokens"] = data["tokens"][:-3]
    (copy / "vocab-chars.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(UserError, match="tokens but the model"):
        LanguageModelPipeline.load(copy)


@pytest.mark.parametrize("kwargs, message", [
    (dict(temperature=-0.5), "temperature"),
    (dict(top_p=0.0), "top-p"),
    (dict(top_p=1.2), "top-p"),
    (dict(prime="ROMEO\u00a7"), "never saw"),
    (dict(length=0), "length"),
])
def test_bad_sampling_options(trained, kwargs, message):
    lm, _, _ = trained
    with pytest.raises(UserError, match=message):
        lm.generate(**kwargs)


def test_lines_mode_names_start_from_zero_and_end_with_eos(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("\n".join(NAMES * 6) + "\n", encoding="utf-8")
    lm = LanguageModelPipeline(LanguageModelConfig(mode="lines", units=32, layers=1, embedding_dim=None,
                                                   cell="lstm", batch_size=8, epochs=4, learning_rate=1e-2,
                                                   patience=None))
    summary = lm.fit(path, verbose=0)
    assert summary["history"]["val_nats"][-1] < summary["history"]["val_nats"][0]
    names = lm.generate(length=40, seed=0, stop_at_eos=True, n=5)
    assert all("\n" not in name and len(name) <= 40 for name in names)
    result = lm.score("allosaurus")
    assert result["probabilities"][-1][0] == "<eos>" and result["tokens"] == len("allosaurus") + 1
    assert lm.score("allosaurus")["log_prob"] > lm.score("sualloaurus")["log_prob"]


def test_a_backward_model_is_the_forward_model_of_the_reversed_text(tmp_path):
    """``reverse``: trained on each line read backwards, a model gets the weights of a forward model
    trained on the reversed lines (same seed), scores a text as that model scores it reversed, and
    writes the text before its primer that the forward model writes after the reversed primer."""
    for name, names in (("names", NAMES), ("reversed", [n[::-1] for n in NAMES])):
        (tmp_path / f"{name}.txt").write_text("\n".join(names * 4) + "\n", encoding="utf-8")
        (tmp_path / f"{name}-dev.txt").write_text("\n".join(names[:5]) + "\n", encoding="utf-8")
    settings = dict(mode="lines", units=16, layers=1, embedding_dim=8, batch_size=8, epochs=2, patience=None)
    backward = LanguageModelPipeline(LanguageModelConfig(reverse=True, **settings))
    backward.fit(tmp_path / "names.txt", tmp_path / "names-dev.txt", verbose=0)
    forward = LanguageModelPipeline(LanguageModelConfig(**settings))
    forward.fit(tmp_path / "reversed.txt", tmp_path / "reversed-dev.txt", verbose=0)
    assert backward.vocab == forward.vocab
    for mine, theirs in zip(backward.model.get_weights(), forward.model.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    assert backward.score("diplodocus")["log_prob"] == pytest.approx(forward.score("sucodolpid")["log_prob"], abs=1e-5)
    assert backward.evaluate(tmp_path / "names-dev.txt")["nats_per_token"] == pytest.approx(
        forward.evaluate(tmp_path / "reversed-dev.txt")["nats_per_token"], abs=1e-6)
    before = backward.generate("saurus", length=12, seed=3)
    assert before.endswith("saurus") and before == forward.generate("suruas", length=12, seed=3)[::-1]


def test_backwards_reads_stream_ids_and_lines_last_first_without_copying(tmp_path):
    ids = np.lib.format.open_memmap(tmp_path / "ids.npy", mode="w+", dtype=np.int32, shape=(5,))
    ids[:] = [4, 5, 6, 7, 8]
    view = cd.backwards(ids)
    assert view.tolist() == [8, 7, 6, 5, 4] and np.shares_memory(view, ids)
    lines = cd.backwards([[4, 5], [6, 7, 8]])
    assert len(lines) == 2 and lines[1] == [8, 7, 6]
    assert list(lines) == [[5, 4], [8, 7, 6]] and cd.line_lengths(lines).tolist() == [2, 3]
    assert cd.backwards(None) is None


def test_word_level_maps_unknown_words_and_can_avoid_them(tmp_path, shakespeare):
    path = tmp_path / "plays.txt"
    path.write_text(shakespeare[:20000], encoding="utf-8")
    lm = LanguageModelPipeline(LanguageModelConfig(level="word", max_vocab=300, units=32, layers=1, embedding_dim=16,
                                                   batch_size=8, window=20, epochs=2))
    lm.fit(path, verbose=0)
    assert len(lm.vocab) == 304
    result = lm.score("the zyzzyva of Rome")
    assert result["unknown"] == ["zyzzyva"] and result["probabilities"][-1][0] == "<eos>"
    text = lm.generate("the", length=80, seed=0, no_unk=True)
    assert "<unk>" not in text and text.startswith("the ")


def test_a_character_model_never_writes_unk_into_its_text(tmp_path):
    """Issue 35 item 9: even when the model favours <unk> (its output bias pushed up here), a
    character model's samples and beam search draw only characters."""

    from nlp_tasks.text.vocab import UNK_ID

    lm = LanguageModelPipeline(LanguageModelConfig(units=8, layers=1, embedding_dim=4, batch_size=2, window=8,
                                                   epochs=1))
    lm.fit(["the cat sat on the mat. " * 20], verbose=0)
    kernel, bias = lm.model.get_layer("output").get_weights()
    bias[UNK_ID] = 50.0
    lm.model.get_layer("output").set_weights([kernel, bias])
    assert "<unk>" not in "".join(lm.generate("the", length=30, seed=0, n=3))
    assert "<unk>" not in lm.generate("the", length=10, beam=2)


# ---------------------------------------------------------------------- CLI
def test_cli_train_sample_score_evaluate(tmp_path, capsys):
    corpus = tmp_path / "names.txt"
    corpus.write_text("\n".join(NAMES * 3) + "\n", encoding="utf-8")
    out = tmp_path / "model"
    assert cli.main(["charlm", "train", "--train", str(corpus), "--mode", "lines", "--out", str(out), "--units", "16",
                     "--layers", "1", "--epochs", "2", "--batch-size", "8", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["epochs_run"] == 2 and (out / "training-log.csv").is_file() and (out / "model.keras").is_file()
    assert cli.main(["charlm", "generate", str(out), "--seed", "1", "--samples", "2", "--stop-at-eos", "--json"]) == 0
    sampled = json.loads(capsys.readouterr().out)
    assert sampled["seed"] == 1 and len(sampled["samples"]) == 2
    assert cli.main(["charlm", "score", str(out), "diplodocus", "sodocuplid", "--json"]) == 0
    ranked = json.loads(capsys.readouterr().out)
    assert [r["rank"] for r in ranked] == [1, 2] and ranked[0]["log_prob"] >= ranked[1]["log_prob"]
    assert cli.main(["charlm", "evaluate", str(out), "--data", str(corpus), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"] == sum(len(n) + 1 for n in NAMES * 3)
    # `charlm sample`, the command's former name: the same output, a note on stderr, hidden from --help
    assert cli.main(["charlm", "sample", str(out), "--seed", "1", "--samples", "2", "--stop-at-eos", "--json"]) == 0
    old = capsys.readouterr()
    assert json.loads(old.out) == sampled
    assert old.err.strip().splitlines() == ["note: 'charlm sample' is now 'charlm generate' (the old name will be "
                                            "removed in a later release)"]
    assert cli.main(["charlm", "--help"]) == 0
    shown = capsys.readouterr().out
    assert "generate" in shown and "sample " not in shown


@pytest.mark.parametrize("args, message", [
    (["generate", "{model}", "--temperature", "-1"], "temperature"),
    (["generate", "{model}", "--top-p", "0"], "top-p"),
    (["generate", "{model}", "--prime", "\u2603"], "never saw"),
    (["generate", "{missing}"], "not found"),
    (["score", "{model}"], "nothing to score"),
    (["train", "--train", "{missing}", "--out", "{out}"], "not found"),
])
def test_cli_errors_are_one_line(trained, tmp_path, capsys, args, message):
    _, _, path = trained
    args = [a.format(model=path, missing=tmp_path / "missing.txt", out=tmp_path / "out") for a in args]
    assert cli.main(["charlm", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]


def test_hugging_face_dataset_folder_with_a_text_column(tmp_path):
    import datasets

    folder = tmp_path / "corpus"
    folder.mkdir()
    datasets.Dataset.from_dict({"text": ["first line of text", "second line"], "id": [1, 2]}).to_parquet(
        str(folder / "train.parquet"))
    datasets.Dataset.from_dict({"text": ["held out"], "id": [3]}).to_parquet(str(folder / "validation.parquet"))
    assert cd.read_corpus(folder) == ["first line of text", "second line"]
    assert cd.read_corpus(folder, split="validation") == ["held out"]
    assert cd.read_corpus(f"{folder}:validation") == ["held out"]
    with pytest.raises(UserError, match="no column 'body'"):
        cd.read_corpus(folder, text_column="body")
