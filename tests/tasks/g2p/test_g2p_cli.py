"""``nlp-tasks g2p train|evaluate|predict`` end to end on a small lexicon file, and its mistakes
in one line."""

from __future__ import annotations

import json

import pytest

from tests import REPO as ROOT
from tests import forked
from tests.models import LEXICON


def _lexicon(path):
    path.write_text("# a made-up rule: 'sh' is one phoneme\n"
                    + "".join(f"{w} {p}\n" for w, p in LEXICON.items()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained by the program in a process of its own (nothing on stderr)."""
    folder = tmp_path_factory.mktemp("g2p-cli")
    data = _lexicon(folder / "lexicon.dict")
    out = folder / "model"
    result = forked.run(["g2p", "train", "--train", data, "--dev", data, "--test", data, "--out", out, "--units", "24",
                         "--layers", "1", "--embedding-dim", "16", "--epochs", "30", "--batch-size", "8",
                         "--learning-rate", "0.02", "--dropout", "0", "--beam", "3", "--patience", "none", "--json"],
                        cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return data, out, json.loads(result.stdout)


def _run(capsys, *args):
    from nlp_tasks.cli.main import main

    code = main(["g2p", *args])
    return code, capsys.readouterr()


def test_train_evaluate_predict(trained, capsys):
    data, out, summary = trained
    assert summary["test"]["wer"] <= 0.2 and summary["best_epoch"] >= 1
    code, printed = _run(capsys, "evaluate", str(out), "--data", str(data), "--beam", "2")
    assert code == 0 and "WER" in printed.out and "without stress" in printed.out
    code, printed = _run(capsys, "predict", str(out), "kit", "shad", "--nbest", "2")
    lines = printed.out.splitlines()
    assert code == 0 and lines[0].startswith("kit\tK IH1 T\t") and len(lines) == 4
    code, printed = _run(capsys, "predict", str(out), "mot", "--json")
    assert code == 0 and json.loads(printed.out)[0]["pronunciations"][0]["phonemes"] == "M AA1 T"


@pytest.mark.parametrize("args, message", [
    (["predict", "{out}", "zap"], "never saw: 'p' 'z'"),
    (["predict", "{out}", "kit", "--nbest", "4", "--beam", "2"], "nbest (4) cannot exceed the beam width (2)"),
    (["predict", "{out}"], "nothing to pronounce"),
    (["evaluate", "{out}", "--data", "{tmp}/none.dict"], "file not found"),
    (["train", "--train", "{bad}", "--out", "{tmp}/m"], "line 1"),
])
def test_mistakes_are_one_line(trained, tmp_path, capsys, args, message):
    _, out, _ = trained
    bad = tmp_path / "bad.dict"
    bad.write_text("kit\n", encoding="utf-8")  # a word without a pronunciation
    args = [a.format(out=out, tmp=tmp_path, bad=bad) for a in args]
    code, printed = _run(capsys, *args)
    assert code == 2, printed.out
    lines = printed.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], printed.err
