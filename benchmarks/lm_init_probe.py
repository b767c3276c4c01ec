"""Probe of ``sentiment train --init-from``: does the classifier's copied encoder read text as its
language model did, and in what regime does it start?

    .venv/bin/python benchmarks/lm_init_probe.py /tmp/bench/wlm-fwd-0.2,/tmp/bench/wlm-bwd-0.2

Builds the classifier as ``--init-from`` does, runs its forward half over each text and the
forward language model's first layer over ``<bos>`` + the same words, and prints the largest
difference of their states after each word (the classifier has no ``<bos>`` step, so the first
words differ a little), the share of units saturated (|a| > 0.95) and the mean |a| over the texts,
and the mean norm of the embedding rows (the language model's and the added words'). Prints only;
the figures go to benchmarks/NOTES.md by hand, with this command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TEXTS = ["the film is a gorgeous and witty ride", "a dull , tedious mess that goes nowhere",
         "it 's not a great movie , but it is an honest one"]


def main(argv=None) -> None:
    from nlp_tasks.runtime import import_tensorflow

    import_tensorflow()  # quietly, before Keras
    import keras

    from nlp_tasks.saving.model_checks import embedding_layer_name
    from nlp_tasks.text.vocab import BOS_ID
    from tasks.charlm import LanguageModelPipeline
    from tasks.sentiment import SentimentConfig, SentimentPipeline

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("init_from", metavar="FWD[,BWD]")
    args = parser.parse_args(argv)
    forward = LanguageModelPipeline.load(args.init_from.split(",")[0])
    cfg = forward.config
    pipe = SentimentPipeline(SentimentConfig(cell=cfg.cell, units=cfg.units, embedding_dim=cfg.embedding_dim))
    examples = [(text, str(i % 2)) for i, text in enumerate(TEXTS)]
    model = pipe.build_model(**pipe.read_training_data(examples, examples, init_from=args.init_from).build)
    embedding = model.get_layer(embedding_layer_name("words"))
    half = model.get_layer("encoder_1").forward_layer
    first = keras.Model(forward.model.input, forward.model.get_layer("rnn_1").output)
    states = []
    for text in TEXTS:
        ids = pipe.vocabs["words"].encode(text)
        mine = keras.ops.convert_to_numpy(half(embedding(np.array([ids]))))[0]
        theirs = first.predict(np.array([[BOS_ID, *ids]]), verbose=0)[0, 1:]
        print(f"{text!r}: largest |difference| after each word "
              + " ".join(f"{d:.3f}" for d in np.abs(mine - theirs).max(axis=1)))
        states.append(mine)
    states = np.concatenate(states)
    table = embedding.get_weights()[0]
    known = len(forward.vocab)
    print(f"classifier's forward half: mean |a| {np.abs(states).mean():.3f}, saturated (|a| > 0.95) "
          f"{100 * (np.abs(states) > 0.95).mean():.1f}% of units x steps")
    print(f"embedding rows: mean norm {np.linalg.norm(table[:known], axis=1).mean():.3f} (language model's), "
          f"{np.linalg.norm(table[known:], axis=1).mean() if len(table) > known else float('nan'):.3f} (added)")


if __name__ == "__main__":
    main()
