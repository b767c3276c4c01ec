"""A fresh clone: sentiment trained, evaluated and used on ``builtin:rt-snippets`` with no data
folder and no network, from Python and from the command line; its five classes shown as ratings
1-5 like SST-5's."""

from __future__ import annotations

import json

from tasks.sentiment import SentimentConfig, SentimentPipeline, read_examples
from tasks.sentiment.data import BUILTIN, BUILTIN_BINARY

TINY = dict(units=8, embedding_dim=16, batch_size=64, learning_rate=5e-3, patience=None)


def test_a_tiny_model_learns_from_a_slice_and_rates_one_to_five(no_network):
    pipe = SentimentPipeline(SentimentConfig(epochs=2, **TINY))
    summary = pipe.fit(read_examples(BUILTIN)[::14], read_examples(f"{BUILTIN}:dev")[::10], verbose=0)
    assert summary["history"]["loss"][-1] < summary["history"]["loss"][0]
    assert pipe.labels == ["0", "1", "2", "3", "4"]
    result = pipe.predict("A gorgeous, witty, seductive movie.")
    assert result["rating"] == int(result["label"]) + 1 and set(result["probabilities"]) == set(pipe.labels)
    report = pipe.evaluate(BUILTIN)  # evaluation reads the test part
    assert report["examples"] == 1035 and 0 <= report["accuracy"] <= 1


def test_the_binary_view_trains_two_labels_without_ratings(no_network):
    pipe = SentimentPipeline(SentimentConfig(epochs=1, **TINY))
    pipe.fit(read_examples(BUILTIN_BINARY)[::28], verbose=0)
    assert pipe.labels == ["0", "1"] and pipe.predict("what a film")["rating"] is None


def test_training_on_the_builtin_without_dev_validates_on_its_dev_part(no_network, monkeypatch):
    read = []

    def examples(self, source, split="test", with_labels=True, training=False):
        read.append((source, split))
        return read_examples(source, split)[::100]

    monkeypatch.setattr(SentimentPipeline, "examples", examples)
    summary = SentimentPipeline(SentimentConfig(epochs=1, **TINY)).fit(BUILTIN_BINARY, verbose=0)
    assert read == [(BUILTIN_BINARY, "train"), (f"{BUILTIN_BINARY}:dev", "dev")]
    assert "val_accuracy" in summary["history"]


def test_cli_train_evaluate_predict_on_a_fresh_clone(tmp_path, capsys, no_network, monkeypatch):
    """``sentiment train --train builtin:rt-snippets`` with an empty data folder and no network (every connection
    fails the test): it validates on the dev part by itself and tests on the test part. In this
    process (tests/nlp_tasks/test_runtime.py checks a fresh process's terminal output)."""
    from nlp_tasks.cli.main import main

    monkeypatch.setenv("NLP_TASKS_DATA", str(tmp_path / "no-data"))
    out = tmp_path / "model"
    code = main(["sentiment", "train", "--train", BUILTIN, "--test", BUILTIN, "--out", str(out), "--epochs", "1",
                 "--units", "8", "--embedding-dim", "8", "--batch-size", "256", "--json"])
    printed = capsys.readouterr()
    assert code == 0 and printed.err == "", printed.err
    summary = json.loads(printed.out)
    assert summary["train_examples"] == 8522 and summary["best_epoch"] == 1 and summary["test"]["examples"] == 1035

    assert main(["sentiment", "evaluate", str(out), "--data", f"{BUILTIN}:dev", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["examples"] == 1048
    assert main(["sentiment", "predict", str(out), "An utterly incompetent and boring film."]) == 0
    assert "rating " in capsys.readouterr().out
    assert main(["sentiment", "evaluate", str(out), "--data", "builtin:rt-snippets:tests"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1] == "error: builtin:rt-snippets: unknown split 'tests' (its parts are train, dev and test)"
