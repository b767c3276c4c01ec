"""Probe of ``sentiment train --init-from``: does the classifier's copied encoder read text as its
language model did, and in what regime does it start?

    .venv/bin/python benchmarks/lm_init_probe.py /tmp/bench/wlm-fwd-0.2,/tmp/bench/wlm-bwd-0.2 \\
        /tmp/bench/sst-tuned-lms/fwd,/tmp/bench/sst-tuned-lms/bwd

For each ``FWD[,BWD]`` pair of saved word-level language models, builds the classifier as
``sentiment train --init-from`` does (its vocabulary extended by the training trees' sentences'
words) and runs its first (bidirectional) encoder layer over the first ``--sentences`` dev
sentences of ``$NLP_TASKS_DATA/sst/trees``. Reports, beside the same for a randomly initialised
encoder of the same shape (the from-scratch classifier's start):

- the copy check: the largest difference between the classifier's forward half and the forward
  language model's first layer run over ``<bos>`` + the same words, from the ninth word on (the
  classifier has no ``<bos>`` step: how long the difference lasts is how long the model remembers
  its start, long for saturated units);
- the share of units x steps saturated (|a| > 0.95) and the mean |a|: a saturated GRU passes
  almost no gradient through its tanh and gates;
- the mean norm of the embedding rows (the language model's, and the rows added for the words it
  lacks).

Writes ``benchmarks/results/lm-init-probe.json`` and the section "sst/trees, the LM-initialised
encoder's start" of RESULTS.md (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import machine_info, now, write_json, write_section  # noqa: E402
from nlp_tasks.io.paths import data_dir  # noqa: E402

SATURATED = 0.95
SKIP = 8  # words before the copy check (the <bos> step's effect fades by then)


def probe(spec: str | None, forward, train: list, dev: list[str], config) -> dict:
    """The figures of one pair (``spec`` None: a random encoder of ``config``'s shape); ``forward``:
    the pair's forward language model, loaded."""
    import keras

    from nlp_tasks.saving.model_checks import embedding_layer_name
    from nlp_tasks.text.vocab import BOS_ID
    from tasks.sentiment import SentimentPipeline

    pipe = SentimentPipeline(config)
    model = pipe.build_model(**pipe.read_training_data(train, train[:10], init_from=spec).build)
    embedding = model.get_layer(embedding_layer_name("words"))
    encoder = model.get_layer("encoder_1")
    first, known_to_lm = None, 0
    if spec:  # the copy check reads the sentences whose words the language model knows (the first ids)
        first = keras.Model(forward.model.input, forward.model.get_layer("rnn_1").output)
        known_to_lm = len(forward.vocab)
    states, worst, checked = [], 0.0, 0
    for text in dev:
        ids = pipe.vocabs["words"].encode(text)
        if not ids:
            continue
        both = keras.ops.convert_to_numpy(encoder(embedding(np.array([ids]))))[0]
        states.append(both)
        if first is not None and len(ids) > SKIP and max(ids) < known_to_lm:
            mine = keras.ops.convert_to_numpy(encoder.forward_layer(embedding(np.array([ids]))))[0]
            theirs = first.predict(np.array([[BOS_ID, *ids]]), verbose=0)[0, 1:]
            worst, checked = max(worst, float(np.abs(mine - theirs)[SKIP:].max())), checked + 1
    states = np.abs(np.concatenate(states))
    table = embedding.get_weights()[0]
    known = known_to_lm or len(table)
    return {"init_from": spec, "copy_max_difference": worst if spec else None, "copy_checked": checked,
            "saturated": float((states > SATURATED).mean()), "mean_abs": float(states.mean()),
            "embedding_norm_lm": float(np.linalg.norm(table[:known], axis=1).mean()),
            "embedding_norm_added": float(np.linalg.norm(table[known:], axis=1).mean()) if len(table) > known
            else None, "words": int(len(table))}


def main(argv=None) -> None:
    from nlp_tasks.runtime import import_tensorflow

    import_tensorflow()  # quietly, before Keras
    from tasks.charlm import LanguageModelPipeline
    from tasks.sentiment import SentimentConfig, SentimentPipeline

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="+", metavar="FWD[,BWD]")
    parser.add_argument("--sentences", type=int, default=500, help="dev sentences to read [default: %(default)s]")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    root = data_dir() / "sst" / "trees"
    reader = SentimentPipeline(SentimentConfig())
    train = list(reader.examples(root / "train.txt", "train"))
    dev = [text for text, _ in reader.examples(root / "dev.txt", "dev")][:args.sentences]
    rows = []
    for spec in [None, *args.pairs]:  # None: a random encoder of the first pair's shape
        forward = LanguageModelPipeline.load((spec or args.pairs[0]).split(",")[0])
        cfg = forward.config
        config = SentimentConfig(cell=cfg.cell, units=cfg.units, embedding_dim=cfg.embedding_dim, seed=0)
        row = probe(spec, forward, train, dev, config)
        if spec:
            row["trained_by"] = forward.metrics.get("training", {}).get("command")
        rows.append(row)
        print(f"{spec or 'random encoder'}: saturated {100 * row['saturated']:.1f}%, mean |a| {row['mean_abs']:.3f}, "
              f"copy check {row['copy_max_difference']}, embedding norms {row['embedding_norm_lm']:.3f} / "
              f"{row['embedding_norm_added']}", flush=True)
    if args.no_write:
        return
    command = "python benchmarks/lm_init_probe.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    machine = machine_info()
    write_json("lm-init-probe.json", {"date": now(), "command": command, "machine": machine, "dev_sentences": len(dev),
                                      "rows": rows})
    lines = []
    for row in rows:
        name = f"`{row['init_from']}`" if row["init_from"] else "random (the from-scratch start)"
        copy = (f"{row['copy_max_difference']:.4f} ({row['copy_checked']} sentences)"
                if row["copy_max_difference"] is not None else "-")
        added = f"{row['embedding_norm_added']:.3f}" if row["embedding_norm_added"] is not None else "-"
        lines.append(f"| {name} | {100 * row['saturated']:.1f} | {row['mean_abs']:.3f} | {copy} | "
                     f"{row['embedding_norm_lm']:.3f} / {added} |")
    commands = "; ".join(f"`{r['trained_by']}`" for r in rows if r.get("trained_by"))
    body = f"""Where the classifier of `sentiment train --init-from FWD,BWD` starts: its first encoder
layer (both directions) run over the first {len(dev)} dev sentences of `sst/trees`, before any
training. Saturated: the share of units x steps with |a| > {SATURATED}; copy check: the largest
difference between the classifier's forward half and the forward language model's first layer
from the {SKIP + 1}th word on, over the sentences all of whose words the language model knows. The
classifier lacks the language model's `<bos>` step, so the two start from different states after
the first word; what the check shows is how long a model remembers that: little for units that
forget their start, up to order 1 for saturated ones, whose update gates hold their state (the
exact placing of every weight is tested separately, tests/tasks/sentiment/test_sentiment_init_lm.py).
Measured
{now()}, commit {machine.get('commit')}. Command:

    {command}

| encoder start (FWD,BWD) | saturated % | mean abs(a) | copy check | embedding row norm (LM / added) |
|---|---|---|---|---|
""" + "\n".join(lines) + f"""

The forward models were trained by: {commands}."""
    write_section("sst/trees, the LM-initialised encoder's start", body)


if __name__ == "__main__":
    main()
