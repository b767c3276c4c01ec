"""Tiny data files and commands for the fault cases (the models: tests/models.py)."""

from __future__ import annotations

from pathlib import Path


def write_sentiment_data(folder: Path, name: str = "sent.txt", lines: int = 8) -> Path:
    """A tiny 'LABEL text' file."""
    path = folder / name
    rows = ["1 good film", "0 bad film", "1 a fine , witty film", "0 dull and boring"]
    path.write_text("\n".join(rows[i % len(rows)] for i in range(lines)) + "\n", encoding="utf-8")
    return path


def sentiment_train_argv(data: Path, out: Path, *extra: str) -> list[str]:
    """The cheapest sentiment training command (one epoch, 4 units)."""
    return ["sentiment", "train", "--train", str(data), "--dev", str(data), "--out", str(out), "--epochs", "1",
            "--units", "4", "--embedding-dim", "4", "--json", *extra]
