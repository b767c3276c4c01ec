"""Issue 15, a new user's first run: output settings do not block a resume, progress and
``--quiet``, ``sentiment evaluate`` leaves the model folder alone, an empty text gets no label."""

from __future__ import annotations

import json
import shutil

from tests.faults.harness import Case
from tests.faults.models import sentiment_train_argv, write_sentiment_data


def _trained_once(tmp, *extra):
    """Train the cheapest sentiment model into tmp/m (one epoch), then give the same command
    with ``extra`` output options added."""
    from nlp_tasks.cli import main as cli

    data = write_sentiment_data(tmp)
    assert cli.main(sentiment_train_argv(data, tmp / "m")) == 0
    return sentiment_train_argv(data, tmp / "m", *extra)


def _json_resumes(tmp, result):
    assert json.loads(result.out)["resumed_from_epoch"] == 1  # restored, not refused, not retrained


def _progress_lines(tmp, result):
    lines = [line for line in result.out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 1 and "\r" not in result.out and "val_accuracy" in lines[0], result.out
    assert lines[0].startswith("epoch 1/1  ")


def _quiet_lines(tmp, result):
    assert not any(line.startswith("epoch ") for line in result.out.splitlines()), result.out
    assert result.out.startswith("saved to ")


def _evaluate_argv(tmp, models):
    model = tmp / "model"
    shutil.copytree(models["sentiment"], model)
    return ["sentiment", "evaluate", str(model), "--data", str(write_sentiment_data(tmp))]


def _model_folder_untouched(tmp, result):
    assert "macro F1" in result.out and "confusion matrix picture" not in result.out
    assert not list((tmp / "model").glob("*.png"))


def _png_on_request(tmp, result):
    assert (tmp / "cm.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads(result.out)["confusion_png"] == str(tmp / "cm.png")


def _empty_text_has_no_label(tmp, result):
    rows = json.loads(result.out)
    assert rows[0]["label"] is None and rows[0]["rating"] is None and rows[0]["empty"] is True
    assert rows[1]["label"] in ("0", "1")


CASES = [
    Case("15.3", "adding --json to a finished training command resumes it",
         setup=lambda tmp, models: _trained_once(tmp), exit=0, check=_json_resumes),
    Case("15.4", "train in a pipe prints one plain line per epoch",
         setup=lambda tmp, models: [a for a in sentiment_train_argv(write_sentiment_data(tmp), tmp / "m")
                                    if a != "--json"],
         exit=0, check=_progress_lines),
    Case("15.4", "train --quiet prints no progress",
         setup=lambda tmp, models: [a for a in sentiment_train_argv(write_sentiment_data(tmp), tmp / "m", "--quiet")
                                    if a != "--json"],
         exit=0, check=_quiet_lines),
    Case("15.7", "sentiment evaluate writes no picture into the model folder",
         setup=_evaluate_argv, exit=0, check=_model_folder_untouched),
    Case("15.7", "sentiment evaluate --png writes the picture where asked",
         setup=lambda tmp, models: [*_evaluate_argv(tmp, models), "--png", str(tmp / "cm.png"), "--json"],
         exit=0, check=_png_on_request),
    Case("15.6", "sentiment predict of an empty text gives no label",
         setup=lambda tmp, models: ["sentiment", "predict", str(models["sentiment"]), "", "good film", "--json"],
         exit=0, check=_empty_text_has_no_label),
]
