"""``make demo``'s sentiment step: a short run end to end (see :mod:`nlp_tasks.demo`)."""

from __future__ import annotations

import json
from pathlib import Path

from nlp_tasks.demo import DemoData

from .cli import format_prediction

DEMO_SENTENCES = [
    "a gorgeous , witty , seductive movie .",
    "the plot is nothing but boilerplate clichés from start to finish .",
    "it 's a fine , if unremarkable , way to spend an afternoon .",
    "an utterly incompetent and boring film .",
]


DEMO_DATA = DemoData(name="SST-5", folder="sst", hub="SetFit/sst5")


def demo(out_dir: Path, folder: Path | None = None) -> dict:
    """A short SST-5 run, then a few predictions. With the data folder's sst/ (``folder``) it trains
    on every labelled phrase of the treebank's parse trees (sst/trees, ``phrases=True``) and selects
    and tests on their sentences, as the published figures do; without it, on the sentences of the
    Hugging Face hub's SST-5 (which has no trees)."""
    from nlp_tasks.plots import plot_confusion_matrix

    from .pipeline import SentimentConfig, SentimentPipeline

    small = {"units": 64, "embedding_dim": 64}
    if folder is not None and (folder / "trees" / "train.txt").is_file():
        train, dev, test = (folder / "trees" / f"{s}.txt" for s in ("train", "dev", "test"))
        pipe = SentimentPipeline(SentimentConfig(epochs=1, batch_size=64, phrases=True, **small))
        what = "every labelled phrase of"
    else:
        if folder is not None:
            train, dev, test = (folder / f"sst5.{s}.txt" for s in ("train", "dev", "test"))
        else:
            train, dev, test = "SetFit/sst5:train", "SetFit/sst5:validation", "SetFit/sst5:test"
        pipe = SentimentPipeline(SentimentConfig(epochs=2, **small))
        what = "the sentences of"
    epochs = pipe.config.epochs
    print(f"training on {what} {train} for {epochs} epoch{'s' * (epochs > 1)} "
          "(a full run: see benchmarks/sentiment.py)")
    pipe.fit(train, dev, out_dir=out_dir, verbose=1)
    report = pipe.evaluate(test)
    pipe.metrics["test"] = pipe.test_summary(report)
    pipe.save(out_dir / "model")
    plot_confusion_matrix(report, out_dir / "confusion-matrix.png", title="SST-5 test")
    print(f"test accuracy {report['accuracy']:.3f} ({report['examples']} sentences), "
          f"macro-F1 {report['macro_f1']:.3f}")
    predictions = pipe.predict(DEMO_SENTENCES)
    for result in predictions:
        print("  " + format_prediction(result))
    (out_dir / "predictions.json").write_text(json.dumps(predictions, indent=2, ensure_ascii=False) + "\n",
                                              encoding="utf-8")
    return pipe.metrics["test"]
