"""Every command, every kind of bad input: exit status 2, one line on stderr, no traceback."""

from __future__ import annotations

import pytest

from nlp_tasks.cli import main as cli

# Each command as (task, args) with {data} where its input file goes and {model} for a model folder.
COMMANDS = {
    "ner train": ["ner", "train", "--train", "{data}", "--out", "{tmp}/out"],
    "ner evaluate": ["ner", "evaluate", "{model}", "--data", "{data}"],
    "ner predict": ["ner", "predict", "{model}", "--input", "{data}"],
    "sentiment train": ["sentiment", "train", "--train", "{data}", "--out", "{tmp}/out"],
    "sentiment evaluate": ["sentiment", "evaluate", "{model}", "--data", "{data}"],
    "sentiment predict": ["sentiment", "predict", "{model}", "--input", "{data}"],
    "charlm train": ["charlm", "train", "--train", "{data}", "--out", "{tmp}/out"],
    "charlm evaluate": ["charlm", "evaluate", "{model}", "--data", "{data}"],
    "charlm score": ["charlm", "score", "{model}", "--input", "{data}"],
    "music train": ["music", "train", "--train", "{data}", "--out", "{tmp}/out"],
    "music evaluate": ["music", "evaluate", "{model}", "--data", "{data}"],
    "music generate": ["music", "generate", "{model}", "--out", "{tmp}/x.mid", "--primer", "{data}"],
}
TRAIN = {name for name in COMMANDS if name.endswith("train")}
BAD_OPTIONS = {
    "ner train": ["--epochs", "0"], "sentiment train": ["--batch-size", "0"], "charlm train": ["--dropout", "1.5"],
    "music train": ["--units", "-3"], "charlm generate": ["--top-k", "x"], "music generate": ["--tempo", "0"],
    "ner predict": ["--format", "xml"], "sentiment predict": ["--bogus"],
}


def _run(args, capsys):
    code = cli.main(args)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, (args, code, captured.err[-500:])
    assert len(lines) == 1 and lines[0].startswith("error: "), (args, captured.err[-500:])
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    return lines[0]


def _fill(args, tmp_path, data, model):
    return [a.format(data=data, model=model, tmp=tmp_path) for a in args]


@pytest.mark.parametrize("name", sorted(COMMANDS))
@pytest.mark.parametrize("problem", ["missing file", "empty file", "directory", "not UTF-8"])
def test_bad_data_file(name, problem, tmp_path, capsys, models):
    path = tmp_path / ("data.mid" if name == "music generate" else "data.txt")
    if problem == "empty file":
        path.write_bytes(b"")
    elif problem == "directory":
        path = tmp_path / "folder"
        path.mkdir()
    elif problem == "not UTF-8":
        path.write_bytes(b"caf\xe9 \xff\xfe 1\n")
    model = models[name.split()[0]]
    _run(_fill(COMMANDS[name], tmp_path, path, model), capsys)


@pytest.mark.parametrize("name", sorted(n for n in COMMANDS if n not in TRAIN) + ["charlm generate"])
def test_model_folder_of_another_task(name, tmp_path, capsys, models):
    task = name.split()[0]
    other = models["charlm"] if task == "sentiment" else models["sentiment"]
    data = tmp_path / "data.txt"
    data.write_text("some text\n", encoding="utf-8")
    args = COMMANDS.get(name, ["charlm", "generate", "{model}"])
    message = _run(_fill(args, tmp_path, data, other), capsys)
    assert "model, not a" in message


@pytest.mark.parametrize("name", sorted(n for n in COMMANDS if n not in TRAIN) + ["charlm generate"])
def test_missing_model_folder(name, tmp_path, capsys):
    args = COMMANDS.get(name, ["charlm", "generate", "{model}"])
    message = _run(_fill(args, tmp_path, tmp_path / "data.txt", tmp_path / "no-model"), capsys)
    assert "not found" in message


@pytest.mark.parametrize("name", sorted(BAD_OPTIONS))
def test_invalid_option_values(name, tmp_path, capsys, models):
    data = tmp_path / "data.txt"
    data.write_text("x\n", encoding="utf-8")
    args = COMMANDS.get(name, ["charlm", "generate", "{model}"])
    _run(_fill(args, tmp_path, data, models[name.split()[0]]) + BAD_OPTIONS[name], capsys)
