"""``make demo``'s ner step: a short run end to end on the built-in Wikigold (see :mod:`nlp_tasks.demo`)."""

from __future__ import annotations

import json
from pathlib import Path

from nlp_tasks.demo import DemoData

COURSE_SENTENCE = "Harry Potter and Hermione Granger invented a new spell."
DEMO_EPOCHS = 6

# Offline and the same on every machine: the corpus ships in this package (tasks/ner/builtin/).
DEMO_DATA = DemoData(embedded="Wikigold (ships with nlp-tasks: builtin:wikigold, CC BY 4.0)")


def demo(out_dir: Path, folder: Path | None = None) -> dict:
    """A small tagger trained for a few epochs on ``builtin:wikigold``'s train part, the best epoch
    by its dev part, the conlleval report on its test part, then the course's sentence tagged
    (``folder`` is unused: the corpus ships with the package)."""
    from nlp_tasks.metrics import format_conlleval

    from .data import BUILTIN, read_sentences
    from .pipeline import NERConfig, NERPipeline

    train, dev = read_sentences(BUILTIN, "train"), read_sentences(BUILTIN, "dev")
    pipe = NERPipeline(NERConfig(epochs=DEMO_EPOCHS, units=64, word_dim=50, char_dim=16, char_units=16,
                                 learning_rate=3e-3, patience=None))
    print(f"training a BiGRU-CRF tagger on the {len(train):,} sentences of {BUILTIN}'s train part (Wikipedia "
          f"articles; Balasuriya et al. 2009, CC BY 4.0) for {DEMO_EPOCHS} epochs, the best by dev entity F1 "
          f"on its {len(dev)} dev sentences (a full run on CoNLL-2003: benchmarks/ner.py)")
    pipe.fit(train, dev, out_dir=out_dir, verbose=1)
    report = pipe.evaluate(BUILTIN)  # its test part
    pipe.metrics["test"] = pipe.test_summary(report)
    pipe.save(out_dir / "model")
    print(f"{BUILTIN} test part:")
    print(format_conlleval(report))
    entities = pipe.predict(COURSE_SENTENCE)
    print(COURSE_SENTENCE)
    for e in entities:
        print(f"  {e['type']:5} {e['start']:>3}-{e['end']:<3} {e['score']:.2f}  {e['text']}")
    (out_dir / "predictions.json").write_text(
        json.dumps({"text": COURSE_SENTENCE, "entities": entities}, indent=2) + "\n", encoding="utf-8")
    return pipe.metrics["test"]
