"""Fault cases for the data readers and sources (issue 15 items 1, 7, 8; issue 22 items 4, 5).

``name:split`` with the ``datasets`` split syntax, a FIFO or device or a folder without data
files as data, a hub name without a reachable hub, an example over the length bound, JSON nested
too deep for the ``datasets`` loader, a bad line (an error, or skipped with ``--on-bad-lines``),
and PTB's space-separated character layout.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.faults.harness import Case
from tests.faults.models import sentiment_train_argv, write_sentiment_data


def _csv_folder(tmp: Path) -> Path:
    """A local data set folder: train.csv (4 rows) and test.csv (3 rows)."""
    folder = tmp / "sst-csv"
    folder.mkdir()
    (folder / "train.csv").write_text("text,label\ngood film,1\nbad film,0\nfine,1\ndull,0\n", encoding="utf-8")
    (folder / "test.csv").write_text("text,label\ngood film,1\nbad film,0\nfine,1\n", encoding="utf-8")
    return folder


def _evaluate(tmp: Path, models: dict, data: str, *extra: str) -> list[str]:
    return ["sentiment", "evaluate", models["sentiment"], "--data", data, "--png", tmp / "cm.png", "--json", *extra]


def _examples_counted(want: int):
    def check(tmp: Path, result):
        report = json.loads(result.out)
        assert report["examples"] == want, report
    return check


def _fifo(tmp: Path) -> Path:
    path = tmp / "train.txt"
    os.mkfifo(path)
    return path


def _pictures(tmp: Path) -> Path:
    folder = tmp / "pictures"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"\x89PNG")
    return folder


def _nothing_written(tmp: Path, result):
    out = tmp / "out"
    assert not out.exists() or not any(out.iterdir()), sorted(out.iterdir())


def _read_with_separator(tmp: Path, result):
    assert "separated by spaces" not in result.err, result.err
    meta = json.loads((tmp / "lm" / "pipeline.json").read_text(encoding="utf-8"))
    assert meta["config"]["separator"] == " ", meta


def _deep_json_folder(tmp: Path) -> Path:
    folder = tmp / "deep"
    folder.mkdir()
    (folder / "train.json").write_text('[{"text": "a", "label": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}]\n",
                                       encoding="utf-8")
    return folder


def _bad_line_file(tmp: Path) -> Path:
    path = write_sentiment_data(tmp, lines=8)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(5, "3")  # a label without text, line 6
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _long_line_file(tmp: Path, chars: int) -> Path:
    path = write_sentiment_data(tmp, lines=4)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("1 " + "good " * (chars // 5) + "\n")  # line 5
    return path


def _ptb_chars(tmp: Path) -> Path:
    path = tmp / "ptb.char.txt"
    words = ["a e r", "b a n k n o t e", "b e r l i t z", "c a l l o w a y", "c e n t r u s t"]
    path.write_text("\n".join(" _ ".join(words[i:] + words[:i]) for i in range(5)) + "\n", encoding="utf-8")
    return path


def _charlm_train(tmp: Path, data: Path, *extra: str) -> list[str]:
    return ["charlm", "train", "--train", data, "--out", tmp / "lm", "--epochs", "1", "--units", "4", "--layers", "1",
            "--embedding-dim", "4", "--batch-size", "2", "--window", "4", "--json", *extra]


def _stderr_has(*parts: str):
    def check(tmp: Path, result):
        for part in parts:
            assert part in result.err, result.err
    return check


def _music_json(tmp: Path, models: dict, text: str) -> list[str]:
    path = tmp / "rolls.json"
    path.write_text(text, encoding="utf-8")
    return ["music", "evaluate", models["music"], "--data", f"{path}:train", "--json"]


CASES = [
    Case("22.7", "NaN as a pitch in a piano-roll JSON is one line",
         lambda tmp, models: _music_json(tmp, models, '{"train": [[[60, NaN], [62]]]}'),
         error=r"nan is not a MIDI pitch number"),
    Case("22.7", "Infinity as a pitch in a piano-roll JSON is one line",
         lambda tmp, models: _music_json(tmp, models, '{"train": [[[Infinity]]]}'),
         error=r"inf is not a MIDI pitch number"),
    Case("22.7", "a piano-roll JSON nested 10,000 deep is one line",
         lambda tmp, models: _music_json(tmp, models, '{"train": ' + "[" * 10_000 + "]" * 10_000 + "}"),
         error=r"nest|deep"),
    # 15.1: the split is everything after the first colon following the name.
    Case("15.1", "folder:test[:2] passes the split slice whole", exit=0,
         setup=lambda tmp, models: _evaluate(tmp, models, f"{_csv_folder(tmp)}:test[:2]"),
         check=_examples_counted(2)),
    Case("15.1", "folder:train+test passes the split sum whole", exit=0,
         setup=lambda tmp, models: _evaluate(tmp, models, f"{_csv_folder(tmp)}:train+test"),
         check=_examples_counted(7)),
    # 22.4: an existing path is a file or a folder; special files are refused without blocking.
    Case("22.4", "a FIFO as training data is refused at once", subprocess=True, timeout=60,
         setup=lambda tmp, models: sentiment_train_argv(_fifo(tmp), tmp / "out"),
         error=r"train\.txt: not a regular file \(a FIFO\)",
         check=_nothing_written),
    Case("22.4", "a device as evaluation data is refused",
         setup=lambda tmp, models: _evaluate(tmp, models, "/dev/null"),
         error=r"/dev/null: not a regular file \(a device\)"),
    Case("22.4", "a folder without data files is not handed to datasets",
         setup=lambda tmp, models: _evaluate(tmp, models, str(_pictures(tmp))),
         error=r"pictures: the folder holds no data files that can be read \(\.csv"),
    # 15.7: a hub name with the hub out of reach: one line at once, saying how to get the data.
    Case("15.7", "hub name offline fails at once with a way out", subprocess=True, timeout=60,
         env={"HF_HUB_OFFLINE": "1"},
         setup=lambda tmp, models: _evaluate(tmp, models, "nlp-tasks-faults/no-such-set:test[:5]"),
         error=r"could not load data set 'nlp-tasks-faults/no-such-set' split 'test\[:5\]': the Hugging Face hub "
               r"is not available \(offline mode.*local file or folder.*NLP_TASKS_DATA="),
    # 22.5: one example's cost is bounded before anything large is built.
    Case("22.5", "a line over --max-example-chars is refused naming file and line",
         setup=lambda tmp, models: sentiment_train_argv(_long_line_file(tmp, 100), tmp / "out",
                                                        "--max-example-chars", "50"),
         error=r"sent\.txt, line 5: 10\d characters in one example, more than the maximum 50 .*--max-example-chars"),
    Case("22.5", "a line of a million words is refused at the default bound", subprocess=True, timeout=90,
         setup=lambda tmp, models: sentiment_train_argv(_long_line_file(tmp, 5_000_000), tmp / "out"),
         error=r"sent\.txt, line 5: 5,000,00\d characters in one example, more than the maximum 1,000,000"),
    Case("22.5", "charlm lines mode refuses a line over the bound",
         setup=lambda tmp, models: _charlm_train(tmp, _long_line_file(tmp, 100), "--mode", "lines",
                                                 "--max-example-chars", "50"),
         error=r"sent\.txt, line 5: 10\d characters .*--mode stream reads any length"),
    Case("22.5", "JSON nested 100,000 deep in a data set folder is refused before datasets", subprocess=True,
         timeout=60, setup=lambda tmp, models: _evaluate(tmp, models, str(_deep_json_folder(tmp))),
         error=r"train\.json, line 1: JSON nested 100,?002 levels deep, more than the 100 allowed"),
    # 15.8: a bad line is one error by default, skipped and counted on request; PTB's layout.
    Case("15.8", "a label-only line is an error naming the line",
         setup=lambda tmp, models: sentiment_train_argv(_bad_line_file(tmp), tmp / "out"),
         error=r"sent\.txt, line 6: expected 'LABEL text', found '3'.*"),
    Case("15.8", "--on-bad-lines skip trains and warns once", exit=0,
         setup=lambda tmp, models: sentiment_train_argv(_bad_line_file(tmp), tmp / "out", "--on-bad-lines", "skip"),
         check=_stderr_has("sent.txt: skipped 1 bad line (first: line 6: expected 'LABEL text'")),
    Case("15.8", "PTB character layout: a warning without --separator", exit=0,
         setup=lambda tmp, models: _charlm_train(tmp, _ptb_chars(tmp)),
         check=_stderr_has("ptb.char.txt: most lines are characters separated by spaces", "--separator")),
    Case("15.8", "PTB character layout read with --separator ' '", exit=0,
         setup=lambda tmp, models: _charlm_train(tmp, _ptb_chars(tmp), "--separator", " "),
         check=_read_with_separator),
]
