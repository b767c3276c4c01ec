"""``make demo``'s sentiment step: a short run end to end on the built-in Rotten Tomatoes snippets
(see :mod:`nlp_tasks.demo`)."""

from __future__ import annotations

import json
from pathlib import Path

from nlp_tasks.demo import DemoData

from .cli import format_prediction

DEMO_SENTENCES = [
    "A gorgeous, witty, seductive movie.",
    "The plot is nothing but boilerplate clichés from start to finish.",
    "It's a fine, if unremarkable, way to spend an afternoon.",
    "An utterly incompetent and boring film.",
]
DEMO_EPOCHS = 4

# Offline and the same on every machine: the snippets ship in this package (tasks/sentiment/builtin/).
DEMO_DATA = DemoData(embedded="Rotten Tomatoes snippets rated by VADER's raters (ships with nlp-tasks: "
                              "builtin:rt-snippets; MIT and CC BY 4.0)")


def demo(out_dir: Path, folder: Path | None = None) -> dict:
    """A small classifier trained for a few epochs on ``builtin:rt-snippets``' train part (five
    classes, shown as ratings 1-5), the best epoch by its dev part, its test accuracy and confusion
    matrix, then a few reviews rated (``folder`` is unused: the snippets ship with the package)."""
    from nlp_tasks.plots import plot_confusion_matrix

    from .data import BUILTIN, read_examples
    from .pipeline import SentimentConfig, SentimentPipeline

    train, dev = read_examples(BUILTIN, "train"), read_examples(BUILTIN, "dev")
    pipe = SentimentPipeline(SentimentConfig(epochs=DEMO_EPOCHS, units=32, embedding_dim=64, batch_size=128,
                                             learning_rate=3e-3, patience=None))
    print(f"training a BiGRU classifier on the {len(train):,} snippets of the train part of {BUILTIN} (Rotten "
          f"Tomatoes, rated -4..4 by VADER's raters, binned into ratings 1-5; Hutto & Gilbert 2014, Pang & Lee "
          f"2005) for {DEMO_EPOCHS} epochs, the best by accuracy on its {len(dev):,} dev snippets "
          "(a full run on SST-5: benchmarks/sentiment.py)")
    pipe.fit(train, dev, out_dir=out_dir, verbose=1)
    report = pipe.evaluate(BUILTIN)  # its test part
    pipe.metrics["test"] = pipe.test_summary(report)
    pipe.save(out_dir / "model")
    plot_confusion_matrix(report, out_dir / "confusion-matrix.png", title=f"{BUILTIN} test")
    print(f"test accuracy {report['accuracy']:.3f} ({report['examples']:,} snippets; five classes), "
          f"macro-F1 {report['macro_f1']:.3f}")
    predictions = pipe.predict(DEMO_SENTENCES)
    for result in predictions:
        print("  " + format_prediction(result))
    (out_dir / "predictions.json").write_text(json.dumps(predictions, indent=2, ensure_ascii=False) + "\n",
                                              encoding="utf-8")
    return pipe.metrics["test"]
