"""``make demo``'s ner step: a short run end to end (see :mod:`nlp_tasks.demo`)."""

from __future__ import annotations

import json
from pathlib import Path

from nlp_tasks.demo import DemoData

COURSE_SENTENCE = "Harry Potter and Hermione Granger invented a new spell."


DEMO_DATA = DemoData(name="CoNLL-2003", folder="conll2003", hub="conll2003")


def demo(out_dir: Path, folder: Path | None = None) -> dict:
    """About a minute of CoNLL-2003 training (``folder``: the data folder's conll2003/, else
    the hub), then tag a sentence."""
    from nlp_tasks.data.readers import read_conll
    from nlp_tasks.metrics import format_conlleval

    from .pipeline import NERConfig, NERPipeline

    if folder is not None:
        train = read_conll(folder / "train.txt")[:5000]
        dev, test = read_conll(folder / "valid.txt")[:600], folder / "test.txt"
    else:
        train, dev, test = "conll2003:train[:5000]", "conll2003:validation[:600]", "conll2003:test"
    pipe = NERPipeline(NERConfig(epochs=5, units=100, char_units=25, learning_rate=3e-3, patience=None))
    print("training on 5,000 CoNLL-2003 sentences for 5 epochs (the full run: benchmarks/ner.py)")
    pipe.fit(train, dev, out_dir=out_dir, verbose=1)
    report = pipe.evaluate(test)
    pipe.metrics["test"] = pipe.test_summary(report)
    pipe.save(out_dir / "model")
    print(format_conlleval(report))
    entities = pipe.predict(COURSE_SENTENCE)
    print(COURSE_SENTENCE)
    for e in entities:
        print(f"  {e['type']:5} {e['start']:>3}-{e['end']:<3} {e['score']:.2f}  {e['text']}")
    (out_dir / "predictions.json").write_text(
        json.dumps({"text": COURSE_SENTENCE, "entities": entities}, indent=2) + "\n", encoding="utf-8")
    return pipe.metrics["test"]
