"""Tiny saved models of every task, for the fault cases (seconds to build)."""

from __future__ import annotations

from pathlib import Path


def tiny_models(root: Path) -> dict[str, Path]:
    from tasks.charlm import LanguageModelConfig, LanguageModelPipeline
    from tasks.music import MusicConfig, MusicPipeline
    from tasks.ner import NERConfig, NERPipeline
    from tasks.sentiment import SentimentConfig, SentimentPipeline

    pairs = [("good film", "1"), ("bad film", "0")] * 4
    sentiment = SentimentPipeline(SentimentConfig(units=4, embedding_dim=4, epochs=1))
    sentiment.fit(pairs, pairs, verbose=0)
    lm = LanguageModelPipeline(LanguageModelConfig(mode="lines", units=4, layers=1, epochs=1, batch_size=2))
    lm.fit(["abc", "bca", "cab"], ["abc"], verbose=0)
    sentences = [(["Peter", "visited", "Paris"], ["B-PER", "O", "B-LOC"])] * 4
    ner = NERPipeline(NERConfig(units=4, char_units=2, word_dim=4, char_dim=2, epochs=1))
    ner.fit(sentences, sentences, verbose=0)
    music = MusicPipeline(MusicConfig(units=4, epochs=1))
    music.fit([[[60], [62, 65]] * 3] * 2, [[[60], [64]]], verbose=0)
    # The NADE head, untrained (built and saved: a fraction of a second); 32 NADE units make one
    # pass over a 50,000-step piece need gigabytes, which the chunked evaluation must avoid (38.5).
    music_nade = MusicPipeline(MusicConfig(units=4, head="nade", nade_units=32))
    music_nade.build_model()
    return {"sentiment": sentiment.save(root / "sentiment"), "charlm": lm.save(root / "charlm"),
            "ner": ner.save(root / "ner"), "music": music.save(root / "music"),
            "music-nade": music_nade.save(root / "music-nade")}


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
