"""A fresh clone: NER trained, evaluated and used on ``builtin:wikigold`` with no data folder and
no network, from Python and from the command line."""

from __future__ import annotations

import json

from tasks.ner import NERConfig, NERPipeline, read_sentences
from tasks.ner.data import BUILTIN

TINY = dict(units=16, char_units=8, word_dim=16, char_dim=8, batch_size=32, learning_rate=5e-3, patience=None)


def test_a_tiny_model_learns_from_a_slice_of_the_train_part(no_network):
    pipe = NERPipeline(NERConfig(epochs=2, **TINY))
    summary = pipe.fit(read_sentences(BUILTIN)[:200], read_sentences(f"{BUILTIN}:dev")[:50], verbose=0)
    losses = summary["history"]["loss"]
    assert losses[-1] < losses[0] and len(summary["history"]["val_f1"]) == 2
    assert set(pipe.labels) == {"O", *(f"{p}-{t}" for p in "BI" for t in ("PER", "LOC", "ORG", "MISC"))}
    report = pipe.evaluate(BUILTIN)  # evaluation reads the test part
    assert report["sentences"] == 117 and report["tokens"] == 2358 and 0 <= report["f1"] <= 1


def test_training_on_the_builtin_without_dev_validates_on_its_dev_part(no_network, monkeypatch):
    pipe = NERPipeline(NERConfig(epochs=1, **TINY))
    read = []

    def sentences(source, split, scheme):
        read.append((source, split))
        return read_sentences(source, split)[:40]

    monkeypatch.setattr("tasks.ner.pipeline.sentence_table", sentences)
    summary = pipe.fit(BUILTIN, verbose=0)
    assert read == [(BUILTIN, "train"), (f"{BUILTIN}:dev", "dev")] and "val_f1" in summary["history"]


def test_cli_train_evaluate_predict_on_a_fresh_clone(tmp_path, capsys, no_network, monkeypatch):
    """``ner train --train builtin:wikigold`` with an empty data folder and no network (every connection
    fails the test): it validates on the dev part by itself and tests on the test part. In this
    process (tests/nlp_tasks/test_runtime.py checks a fresh process's terminal output)."""
    from nlp_tasks.cli.main import main

    monkeypatch.setenv("NLP_TASKS_DATA", str(tmp_path / "no-data"))
    out = tmp_path / "model"
    code = main(["ner", "train", "--train", BUILTIN, "--test", BUILTIN, "--out", str(out), "--epochs", "1",
                 "--units", "8", "--char-units", "0", "--word-dim", "8", "--batch-size", "64", "--json"])
    printed = capsys.readouterr()
    assert code == 0 and printed.err == "", printed.err
    summary = json.loads(printed.out)
    assert summary["best_epoch"] == 1 and 0 <= summary["best"] <= 1 and 0 <= summary["test"]["f1"] <= 1
    assert summary["train_sentences"] == 1384

    def run(*args):
        code = main(["ner", *args])
        printed = capsys.readouterr()
        assert code == 0, printed.err
        return printed.out

    assert json.loads(run("evaluate", str(out), "--data", BUILTIN, "--json"))["sentences"] == 117
    assert json.loads(run("evaluate", str(out), "--data", f"{BUILTIN}:dev", "--json"))["sentences"] == 195
    assert "entities" in json.loads(run("predict", str(out), "Harry Potter met Hermione Granger.", "--json"))[0]
    code = main(["ner", "evaluate", str(out), "--data", f"{BUILTIN}:devel"])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and error == [f"error: {BUILTIN}: unknown split 'devel' (its parts are train, dev and test)"]
