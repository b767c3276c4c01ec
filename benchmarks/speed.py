"""Speed of each task, end to end: our recurrent layers vs the same models built from Keras' own.

    .venv/bin/python benchmarks/speed.py                        # all four tasks, 2 rounds
    .venv/bin/python benchmarks/speed.py --tasks ner --rounds 3

For every task the same pipeline (data reading, batching, model, loss, optimizer) is run twice
per round: once with our layers and once inside ``nlp_tasks.layers.keras_builtin_layers()``,
which makes every ``recurrent(...)`` in the task's model Keras' ``GRU``/``LSTM``/``SimpleRNN``
instead. Each run is its own process (so its peak memory is its own), and the order alternates
from round to round so machine noise hits both alike. A run:

- trains ``--epochs`` epochs (default 2) without validation and times each epoch's training
  batches (``on_epoch_begin`` to the last ``on_train_batch_end``); the last epoch is reported,
  because the first also traces the graphs. Examples/s = training examples / that time;
- measures the padding of the training batches: padded tokens / real tokens, with the tasks'
  length bucketing, and with plain random batches of the same size for comparison;
- measures prediction throughput with the task's own ``evaluate`` on its test split (batched,
  decoding included): NER sentences/s, sentiment texts/s, language-model tokens/s, music
  pieces/s;
- with our layers only, generation: language-model sampling in characters/s (one stream and
  32 streams) and music generation steps/s. The compiled samplers step our cells directly;
  Keras' layers have no such step, so the table says n/a there (benchmarks/charlm.py compares
  the sampler with a ``model.predict`` loop instead);
- reports the process's peak resident memory (``ru_maxrss``; TensorFlow itself takes about
  0.6 GB of it).

Ratios ours/keras are medians of the per-round ratios. Data (``$NLP_TASKS_DATA``, default
``../shared/data``): CoNLL-2003 train/test, SST-5 train/test, the first ``--lm-chars``
characters of tiny-shakespeare (the last 10% of them held out), JSB Chorales. Configurations are
the tasks' defaults, as in the quality benchmarks (NER with word dropout 0.2). Writes
``benchmarks/results/speed.json`` and the "Speed" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ROOT, machine_info, now, write_json, write_section  # noqa: E402

TASKS = ("ner", "sentiment", "charlm", "music")
DATASETS = {"ner": "conll2003", "sentiment": "sst (sst5)", "charlm": "tinyshakespeare", "music": "jsb_chorales"}
UNITS = {"ner": "sentences", "sentiment": "texts", "charlm": "tokens", "music": "pieces"}


# ---------------------------------------------------------------------------------------- child
def _padding(lengths, batch_size, seed, shuffle) -> dict:
    import numpy as np

    from nlp_tasks.data import bucketed_batches

    lengths = np.asarray(lengths)
    real = int(lengths.sum())
    bucketed = sum(len(b) * int(lengths[b].max()) for b in bucketed_batches(lengths, batch_size, seed=seed,
                                                                               epoch=0, shuffle=shuffle))
    order = np.random.default_rng(seed).permutation(len(lengths))
    plain = sum(len(b) * int(lengths[b].max()) for b in np.array_split(order, -(-len(order) // batch_size)))
    return {"real_tokens": real, "bucketed": bucketed / real, "random_batches": plain / real}


def _instrument(record: dict):
    """Time every epoch's training batches and note the training batches' padding."""
    import nlp_tasks.data as data
    import nlp_tasks.training as training
    import tasks.ner
    import tasks.sentiment

    timer_base = training.callback_base()

    class EpochTimer(timer_base):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = self.last = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.last = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            record.setdefault("epoch_seconds", []).append(self.last - self.start)

    fit = training.fit

    def timed_fit(*args, callbacks=(), **kwargs):
        return fit(*args, callbacks=[*callbacks, EpochTimer()], **kwargs)

    training.fit = timed_fit
    batch_dataset = data.batch_dataset

    def recorded_batch_dataset(make_batch, lengths, batch_size, signature, seed=0, shuffle=True):
        if shuffle and "padding" not in record:  # the first shuffled dataset is the training set
            record["padding"] = _padding(lengths, batch_size, seed, shuffle)
        return batch_dataset(make_batch, lengths, batch_size, signature, seed=seed, shuffle=shuffle)

    for module in (data, tasks.ner, tasks.sentiment):
        if hasattr(module, "batch_dataset"):
            module.batch_dataset = recorded_batch_dataset


def _run_ner(args, record, data):
    from tasks.ner import NERConfig, NERPipeline

    pipe = NERPipeline(NERConfig(epochs=args.epochs, word_dropout=0.2))
    summary = pipe.fit(data / "conll2003" / "train.txt", None, verbose=0)
    record["train_examples"] = summary["train_sentences"]
    report = pipe.evaluate(data / "conll2003" / "test.txt")
    record["predict_per_second"] = report["sentences_per_second"]


def _run_sentiment(args, record, data):
    from tasks.sentiment import SentimentConfig, SentimentPipeline

    pipe = SentimentPipeline(SentimentConfig(epochs=args.epochs))
    summary = pipe.fit(data / "sst" / "sst5.train.txt", None, verbose=0)
    record["train_examples"] = summary["train_examples"]
    record["predict_per_second"] = pipe.evaluate(data / "sst" / "sst5.test.txt")["texts_per_second"]


def _run_charlm(args, record, data, ours: bool):
    from tasks.charlm import LanguageModelConfig, LanguageModelPipeline

    text = (data / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")[: args.lm_chars]
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "shakespeare.txt"
        corpus.write_text(text, encoding="utf-8")
        pipe = LanguageModelPipeline(LanguageModelConfig(epochs=args.epochs))
        pipe.fit(corpus, None, verbose=0)
        cut = int(len(text) * 0.9)
        (Path(tmp) / "held-out.txt").write_text(text[cut:], encoding="utf-8")
        record["train_examples"] = cut  # characters (the corpus is split by characters)
        report = pipe.evaluate(Path(tmp) / "held-out.txt")
    record["predict_per_second"] = report["tokens"] / report["seconds"]
    record["padding"] = {"real_tokens": cut, "bucketed": 1.0, "random_batches": 1.0, "note": "stream mode"}
    if ours:
        for streams in (1, 32):
            pipe.sample_many(streams, prime="ROMEO:", length=20, seed=0)  # compile
            start = time.perf_counter()
            pipe.sample_many(streams, prime="ROMEO:", length=400, seed=0)
            record[f"sample_chars_per_second_{streams}"] = streams * 400 / (time.perf_counter() - start)


def _run_music(args, record, data, ours: bool):
    from tasks.music import MusicConfig, MusicPipeline

    source = data / "jsb_chorales" / "jsb-chorales-quarter.json"
    pipe = MusicPipeline(MusicConfig(epochs=args.epochs))
    summary = pipe.fit(f"{source}:train", None, verbose=0)
    record["train_examples"] = summary.get("train_pieces")
    report = pipe.evaluate(f"{source}:test")
    record["predict_per_second"] = report["pieces"] / report["seconds"]
    if ours:
        pipe.generate(steps=10, seed=0)  # compile
        start = time.perf_counter()
        pipe.generate(steps=400, seed=0)
        record["generation_steps_per_second"] = 400 / (time.perf_counter() - start)


def child(task: str, impl: str, args) -> dict:
    import resource

    from nlp_tasks.layers import keras_builtin_layers
    from nlp_tasks.paths import data_dir

    record: dict = {"task": task, "impl": impl}
    _instrument(record)
    ours = impl == "ours"
    runner = {"ner": _run_ner, "sentiment": _run_sentiment,
              "charlm": lambda *a: _run_charlm(*a, ours=ours), "music": lambda *a: _run_music(*a, ours=ours)}[task]
    with contextlib.nullcontext() if ours else keras_builtin_layers():
        start = time.perf_counter()
        runner(args, record, data_dir())
        record["total_seconds"] = time.perf_counter() - start
    record["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return record


# --------------------------------------------------------------------------------------- parent
def _child_run(task, impl, args) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", task, impl, "--epochs", str(args.epochs),
               "--lm-chars", str(args.lm_chars)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"{task}/{impl} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(task: str, runs: list[dict]) -> dict:
    by = {impl: [r for r in runs if r["impl"] == impl] for impl in ("ours", "keras")}
    row = {"task": task, "data": DATASETS[task], "rounds": len(by["ours"])}
    for impl, rs in by.items():
        row[impl] = {
            "epoch_seconds": _median([r["epoch_seconds"][-1] for r in rs]),
            "first_epoch_seconds": _median([r["epoch_seconds"][0] for r in rs]),
            "examples_per_second": _median([r["train_examples"] / r["epoch_seconds"][-1] for r in rs]),
            "predict_per_second": _median([r["predict_per_second"] for r in rs]),
            "peak_rss_mb": _median([r["peak_rss_mb"] for r in rs]),
        }
    pairs = list(zip(by["ours"], by["keras"]))
    row["epoch_ratio"] = statistics.median(o["epoch_seconds"][-1] / k["epoch_seconds"][-1] for o, k in pairs)
    row["predict_ratio"] = statistics.median(o["predict_per_second"] / k["predict_per_second"] for o, k in pairs)
    row["padding"] = by["ours"][0]["padding"]
    for key in ("sample_chars_per_second_1", "sample_chars_per_second_32", "generation_steps_per_second"):
        if key in by["ours"][0]:
            row[key] = _median([r[key] for r in by["ours"]])
    return row


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"Measured {result['date']} on {m['cpu']} ({m['cores']} cores, CPU only), TensorFlow {m.get('tensorflow')}, "
        f"Keras {m.get('keras')}, commit {m.get('commit')}; 1-min load average {result['load_start']:.1f} at "
        f"start, {m['load_average_1min']:.1f} at the end. Command:", "", f"    {result['command']}", "",
        "Each task's own pipeline and default model, run once with our layers and once with Keras' built-in "
        f"`GRU` in their place, in separate processes, alternating order over {result['rounds']} rounds. "
        f"Epoch = training batches of epoch {result['epochs']} (the first also traces); ratios < 1 mean ours is "
        "faster (epoch time) or slower (prediction: ours/keras throughput, > 1 is faster). Padding = padded / real "
        "tokens of the training batches, with the task's length bucketing (and with random batches). "
        "Prediction is the task's `evaluate` on its test split. Generation needs our cells (n/a for Keras).", "",
        "| data | task | epoch s ours / keras | ratio | train examples/s ours / keras | prediction /s ours / "
        "keras | ratio | padding bucketed (random) | generation (ours) | peak MB ours / keras |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["results"]:
        o, k = r["ours"], r["keras"]
        unit = UNITS[r["task"]]
        gen = "-"
        if "sample_chars_per_second_1" in r:
            gen = (f"{r['sample_chars_per_second_1']:.0f} chars/s (1 stream), "
                   f"{r['sample_chars_per_second_32']:.0f} (32)")
        elif "generation_steps_per_second" in r:
            gen = f"{r['generation_steps_per_second']:.0f} steps/s"
        pad = r["padding"]
        padding = ("none (stream)" if pad.get("note") else f"{pad['bucketed']:.3f} ({pad['random_batches']:.2f})")
        lines.append(
            f"| {r['data']} | {r['task']} | {o['epoch_seconds']:.1f} / {k['epoch_seconds']:.1f} | {r['epoch_ratio']:.3f} "
            f"| {o['examples_per_second']:.0f} / {k['examples_per_second']:.0f} "
            f"| {o['predict_per_second']:.0f} / {k['predict_per_second']:.0f} {unit} | {r['predict_ratio']:.3f} "
            f"| {padding} | {gen} | {o['peak_rss_mb']:.0f} / {k['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run; the last is timed")
    parser.add_argument("--lm-chars", type=int, default=200_000, help="tiny-shakespeare characters for charlm")
    parser.add_argument("--child", nargs=2, metavar=("TASK", "IMPL"), help=argparse.SUPPRESS)
    parser.add_argument("--no-results-md", action="store_true", help="write the JSON only")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child, args)))
        return
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown or args.rounds < 1 or args.epochs < 1:
        raise SystemExit(f"--tasks from {', '.join(TASKS)}; --rounds and --epochs >= 1 (got {unknown or ''})")
    import os

    from nlp_tasks.runtime import import_tensorflow

    import_tensorflow()  # quietly, before machine_info asks for TensorFlow's version
    load_start = os.getloadavg()[0]
    command = ("python benchmarks/speed.py " + shlex.join(argv if argv is not None else sys.argv[1:])).strip()
    results = []
    for task in tasks:
        runs = []
        for r in range(args.rounds):
            for impl in (("ours", "keras") if r % 2 == 0 else ("keras", "ours")):
                run = _child_run(task, impl, args)
                print(f"{task} {impl}: epochs {[round(s, 1) for s in run['epoch_seconds']]} s, "
                      f"predict {run['predict_per_second']:.0f}/s, peak {run['peak_rss_mb']:.0f} MB", flush=True)
                runs.append(run)
        results.append(summarise(task, runs))
    result = {"date": now(), "command": command, "machine": machine_info(), "load_start": load_start,
              "rounds": args.rounds, "epochs": args.epochs, "lm_chars": args.lm_chars, "results": results}
    write_json("speed.json" if set(tasks) == set(TASKS) else f"speed-{'-'.join(tasks)}.json", result)
    print(markdown(result))
    if not args.no_results_md:
        write_section("Speed: each task with our layers vs Keras' built-in layers", markdown(result))


if __name__ == "__main__":
    main()
