"""The task layer: settings declared once, generic commands, a fifth task for free."""

from __future__ import annotations

import dataclasses
import json

import click
import pytest
from click.testing import CliRunner

from nlp_tasks import registry
from nlp_tasks.cli import main as cli
from nlp_tasks.cli import options
from nlp_tasks.config import TrainSettings
from nlp_tasks.errors import UserError
from nlp_tasks.pipeline import Pipeline
from tests import toytask


def _train_command(task):
    group = cli.cli.get_command(click.Context(cli.cli), task)
    return group.get_command(click.Context(group), "train")


@pytest.mark.parametrize("task", ["ner", "sentiment", "charlm", "music", "g2p"])
def test_every_setting_is_a_train_option_with_the_python_default(task):
    config_class = registry.pipeline_class(task).config_class
    params = {p.name: p for p in _train_command(task).params if isinstance(p, click.Option)}
    fields = dataclasses.fields(config_class)
    assert {f.name for f in TrainSettings.settings()} <= {f.name for f in fields}
    for field in fields:
        assert field.name in params, f"{task} train has no option for {field.name}"
        assert params[field.name].default == field.default, f"{task} --{field.name}"
        assert field.metadata.get("help"), f"{config_class.__name__}.{field.name} has no help text"
    assert config_class() == config_class(**{f.name: params[f.name].default for f in fields})


def _config_command(config_class):
    @click.command()
    @options.config_options(config_class)
    @options.preset(config_class.presets)
    def show(preset, **values):
        click.echo(json.dumps(options.config_from(config_class, values, config_class.presets, preset)[0].to_dict()))

    return show


def test_a_preset_replaces_the_defaults_and_the_command_line_wins():
    from tasks.ner import NERConfig

    run = CliRunner().invoke(_config_command(NERConfig), ["--preset", "conll2003", "--epochs", "3"])
    assert run.exit_code == 0, run.output
    config = json.loads(run.output)
    assert config["word_dropout"] == 0.2 and config["epochs"] == 3
    assert json.loads(CliRunner().invoke(_config_command(NERConfig), []).output)["word_dropout"] == 0.05


def test_none_and_switches_on_the_command_line():
    from tasks.charlm import LanguageModelConfig

    run = CliRunner().invoke(_config_command(LanguageModelConfig),
                             ["--embedding-dim", "none", "--patience", "None", "--lower", "--lr-decay", "0.25"])
    config = json.loads(run.output)
    assert config["embedding_dim"] is None and config["patience"] is None and config["lower"] is True
    assert config["lr_decay"] == 0.25
    bad = CliRunner().invoke(_config_command(LanguageModelConfig), ["--dropout", "1"])
    assert bad.exit_code == 2 and "--dropout" in bad.output


@pytest.mark.parametrize("changes, message", [
    ({"cell": "tree"}, "cell must be one of gru, lstm, rnn, mingru, got 'tree'"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
    ({"units": 10**9}, "units must be <= 65,536, got 1000000000"),
    ({"lr_decay": 1.5}, r"lr_decay must be in \(0, 1\), got 1.5"),
    ({"learning_rate": float("inf")}, "learning_rate must be a finite number"),
])
def test_settings_are_checked_from_their_declaration(changes, message):
    from tasks.music import MusicConfig

    with pytest.raises(UserError, match=message):
        MusicConfig(**changes)


@pytest.fixture
def digits(monkeypatch):
    monkeypatch.setattr(registry, "TASKS", registry.TASKS.copy())
    registry.register("digits", toytask.ENTRY)  # the one line a new task needs


def test_a_fifth_task_gets_the_command_line_and_load_for_free(digits, tmp_path, capsys):
    lines = [f"line {i} has {'a 7' if i % 2 else 'no number'}" for i in range(40)]
    data = tmp_path / "lines.txt"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "model"
    assert cli.main(["digits", "--help"]) == 0
    assert "train" in capsys.readouterr().out
    assert cli.main(["digits", "train", "--train", str(data), "--test", str(data), "--out", str(out),
                     "--epochs", "2", "--units", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["epochs_run"] == 2 and result["train_examples"] == 40 and "accuracy" in result["test"]
    assert cli.main(["digits", "evaluate", str(out), "--data", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["examples"] == 40
    assert cli.main(["digits", "predict", str(out), "room 101", "no digits", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    pipe = Pipeline.load(out)
    assert type(pipe).__name__ == "DigitPipeline" and pipe.config.units == 4
    assert pipe.metrics["training"]["epochs_run"] == 2
    assert cli.main(["digits", "train", "--train", str(data), "--out", str(tmp_path / "m2"), "--units", "0"]) == 2
    assert "--units" in capsys.readouterr().err
