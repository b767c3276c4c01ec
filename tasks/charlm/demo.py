"""``make demo``'s charlm step: a short run end to end (see :mod:`nlp_tasks.demo`)."""

from __future__ import annotations

import json
from pathlib import Path

from nlp_tasks.demo import DemoData

from .cli import format_score, rank

DEMO_SENTENCES = ["The apple and pear salad.", "The apple and pair salad."]


DEMO_DATA = DemoData(embedded="Python's own documentation (pydoc_data, ships with Python)")


def demo(out_dir: Path, folder: Path | None = None) -> dict:
    """About a minute of training on the embedded corpus, a sample, and the pair/pear ranking
    (``folder`` is unused: the corpus ships with Python)."""
    from .data import BUILTIN
    from .pipeline import LanguageModelConfig, LanguageModelPipeline

    out_dir.mkdir(parents=True, exist_ok=True)
    config = LanguageModelConfig(units=256, layers=1, window=64, batch_size=32, epochs=2, dropout=0.1)
    lm = LanguageModelPipeline(config)
    print(f"training a character GRU on {BUILTIN} (Python's own documentation) for 2 epochs "
          "(a full run: see benchmarks/charlm.py)")
    summary = lm.fit(BUILTIN, out_dir=out_dir, verbose=1)
    lm.save(out_dir / "model")
    text = lm.generate("The ", length=400, temperature=0.7, seed=0)
    (out_dir / "sample.txt").write_text(text + "\n", encoding="utf-8")
    print(f"validation {summary['best']:.3f} nats/char; a sample (temperature 0.7, seed 0):\n{text}\n")
    ranking = rank(lm.score(DEMO_SENTENCES))
    (out_dir / "scores.json").write_text(json.dumps(ranking, indent=2) + "\n", encoding="utf-8")
    print("ranked by the model:")
    for result in ranking:
        print("  " + format_score(result))
    return {"validation_nats_per_char": summary["best"]}
