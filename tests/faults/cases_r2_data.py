"""Data readers, labels and the SST tree reader (issue 38 items 5, 6, 7 and 9).

A deep PTB tree whose phrases would take gigabytes is refused naming its line; an integer too
long for Python to convert (5,000 digits) as a label or a MIDI pitch is one line, not the
int-conversion ValueError; a label column read as floats (``inf``, ``0.0``) is refused naming the
row; tree lines among ``LABEL text`` lines are refused; labels written differently but read the
same are one class; a run without validation data says so instead of ``nan at epoch None``.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.faults.harness import Case
from tests.faults.models import sentiment_train_argv

HUGE = "1" + "0" * 4999  # Python refuses to convert an integer of over 4,300 digits


def _deep_trees(tmp: Path, words: int = 60_000) -> Path:
    """Two trees; the second right-branching over ``words`` words (under the 1,000,000-character
    line limit, its phrases ~1.8 billion words)."""
    path = tmp / "trees.txt"
    names = [f"w{i % 997}" for i in range(words)]
    deep = "".join(f"(2 (2 {w}) " for w in names[:-1]) + f"(2 {names[-1]})" + ")" * (words - 1)
    path.write_text("(3 (2 a) (3 (2 good) (3 film)))\n" + deep + "\n", encoding="utf-8")
    return path


def _file(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def _folder(tmp: Path, name: str, text: str) -> Path:
    """A data set folder (read by ``datasets``) holding one train file."""
    folder = tmp / "set"
    folder.mkdir()
    _file(folder, name, text)
    return folder


def _rows(*labels: str) -> str:
    """JSON lines, one per label (written as given: ``0``, ``"0"``, a huge integer)."""
    texts = ["good film", "bad film", "a fine film", "dull and boring"]
    return "".join(f'{{"text": "{texts[i % 4]}", "label": {label}}}\n' for i, label in enumerate(labels))


def _rolls(tmp: Path, pitch: str = HUGE) -> Path:
    return _file(tmp, "rolls.json", f'{{"train": [[[60], [62]], [[60], [{pitch}]]], "valid": [[[60]]]}}')


def _music_train(tmp: Path, data: Path) -> list:
    return ["music", "train", "--train", data, "--out", tmp / "out", "--epochs", "1", "--units", "4", "--json"]


def _saved_labels(want: list[str]):
    def check(tmp: Path, result):
        meta = json.loads((tmp / "out" / "pipeline.json").read_text(encoding="utf-8"))
        assert meta["labels"] == want, meta["labels"]
    return check


def _no_nan(tmp: Path, result):
    assert "accuracy nan" not in result.out and "epoch None" not in result.out, result.out
    assert "no validation data" in result.out, result.out


def _strict_json(tmp: Path, result):
    def refuse(constant):
        raise AssertionError(f"{constant} in the JSON output: {result.out}")

    report = json.loads(result.out, parse_constant=refuse)
    assert "best" not in report and "best_epoch" not in report, report


def _all(*checks):
    def check(tmp: Path, result):
        for one in checks:
            one(tmp, result)
    return check


def _train_without_dev(data: Path, tmp: Path, *extra: str) -> list:
    return ["sentiment", "train", "--train", data, "--out", tmp / "out", "--epochs", "1", "--units", "4",
            "--embedding-dim", "4", *extra]


CASES = [
    # 38.5: the phrases of a deep tree are counted before any is joined.
    Case("38.5", "a right-branching tree of 60,000 words with --phrases is one line", subprocess=True, timeout=120,
         setup=lambda tmp, models: sentiment_train_argv(_deep_trees(tmp), tmp / "out", "--phrases"),
         error=r"trees\.txt, line 2: the tree's 119,999 phrases hold [\d,]+ characters in all, more than the maximum "
               r"example of 1,000,000 .*--max-example-chars"),
    # 38.6: an integer of 5,000 digits as a label or a pitch.
    Case("38.6", "a 5,000-digit label in JSON lines",
         setup=lambda tmp, models: sentiment_train_argv(_file(tmp, "big.jsonl", _rows(1, HUGE)), tmp / "out"),
         error=r"big\.jsonl, line 2: the label is an integer of 5,000 digits; an integer label has at most 18 digits"),
    Case("38.6", "a 5,000-digit label in a JSON table",
         setup=lambda tmp, models: sentiment_train_argv(
             _file(tmp, "big.json", "[" + _rows(1, HUGE).strip().replace("\n", ",") + "]"), tmp / "out"),
         error=r"big\.json, item 2: the label is an integer of 5,000 digits"),
    Case("38.6", "a 5,000-digit label in a LABEL text file",
         setup=lambda tmp, models: sentiment_train_argv(_file(tmp, "big.txt", f"1 good film\n{HUGE} bad film\n"),
                                                        tmp / "out"),
         error=r"big\.txt, line 2: the label is an integer of 5,000 digits"),
    Case("38.6", "a 5,000-digit label in a data set folder's CSV",
         setup=lambda tmp, models: sentiment_train_argv(
             _folder(tmp, "train.csv", f"text,label\ngood film,0\nbad film,{HUGE}\n"), tmp / "out"),
         error=r"set', row 2: the label is an integer of 5,000 digits"),
    Case("38.6", "a 5,000-digit pitch in music training data",
         setup=lambda tmp, models: _music_train(tmp, _rolls(tmp)),
         error=r"rolls\.json \[train\] piece 2, time step 2: an integer of 5,000 digits is not a MIDI pitch number"),
    Case("38.6", "a 5,000-digit pitch in a --primer JSON",
         setup=lambda tmp, models: ["music", "generate", models["music"], "--primer", _rolls(tmp), "--out",
                                    tmp / "x.mid", "--steps", "2"],
         error=r"rolls\.json \[train\] piece 2, time step 2: an integer of 5,000 digits is not a MIDI pitch number"),
    Case("38.6", "a 5,000-digit pitch in evaluation data",
         setup=lambda tmp, models: ["music", "evaluate", models["music"], "--data", f"{_rolls(tmp)}:train"],
         error=r"piece 2, time step 2: an integer of 5,000 digits is not a MIDI pitch number"),
    # 38.9: a huge integer makes datasets read the column as floats: 0.0 and inf, never labels.
    Case("38.9", "a data set folder whose label column is read as floats names the inf row",
         setup=lambda tmp, models: sentiment_train_argv(_folder(tmp, "train.jsonl", _rows(0, HUGE, 1)), tmp / "out"),
         error=r"set', row 2: the label is the number inf, not a text or an integer"),
    # 38.7: tree lines among label-text lines; labels written differently are one class; no nan line.
    Case("38.7", "a LABEL text file holding tree lines is refused naming the line",
         setup=lambda tmp, models: sentiment_train_argv(
             _file(tmp, "mixed.txt", "1 good film\n0 bad film\n(3 (2 fine) (3 film))\n"), tmp / "out"),
         error=r"mixed\.txt, line 3: a PTB tree among 'LABEL text' lines .*mixes the two formats"),
    Case("38.7", "labels differing only by an invisible character inside are refused",
         setup=lambda tmp, models: sentiment_train_argv(
             _file(tmp, "twins.txt", "neg bad film\nne\u200bg dull film\npos good film\n"), tmp / "out"),
         error=r"twins\.txt: labels 'neg' and 'ne\\u200bg' differ only in invisible characters"),
    Case("38.7", "two files joined (a byte order mark before a label) give one class 0; no dev: no nan line", exit=0,
         setup=lambda tmp, models: _train_without_dev(
             _file(tmp, "joined.txt", "1 good film\n0 bad film\n\ufeff0 dull film\n\ufeff1 fine film\n"), tmp),
         check=_all(_saved_labels(["0", "1"]), _no_nan)),
    Case("38.7", "labels 0, \"0\", \" 0\" in JSON lines are one class; no dev: JSON without NaN", exit=0,
         setup=lambda tmp, models: _train_without_dev(_file(tmp, "mixed.jsonl", _rows(0, '"0"', '" 0"', 1)), tmp,
                                                      "--json"),
         check=_all(_saved_labels(["0", "1"]), _strict_json)),
]
