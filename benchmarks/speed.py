"""Speed of each task, end to end: our recurrent layers vs the same models built from Keras' own.

    .venv/bin/python benchmarks/speed.py                        # all four tasks, 2 rounds
    .venv/bin/python benchmarks/speed.py --tasks ner --rounds 3

For every task the same pipeline (data reading, batching, model, loss, optimizer) is built twice:
once with our layers and once inside ``nlp_tasks.layers.keras_builtin_layers()``, which makes
every ``recurrent(...)`` in the task's model Keras' ``GRU``/``LSTM``/``SimpleRNN`` instead. This
machine's speed drifts by tens of percent over minutes, so whole epochs in separate processes
cannot be compared; instead one process per task holds both models and interleaves them finely:

- each pipeline trains one epoch through its own ``fit`` (this traces its graphs), and the
  training batches of that epoch are kept;
- then the batches are cut into ``--chunks`` consecutive chunks and, chunk by chunk, each model
  trains on the chunk (``train_on_batch``, the same batches for both), the order alternating
  from chunk to chunk. Epoch time = the sum over chunks; the ratio ours/keras is the median of
  the per-chunk ratios. Examples/s = training examples / epoch time;
- prediction throughput is the task's own ``evaluate`` on its test split (batched, decoding
  included: NER sentences/s, sentiment texts/s, language-model tokens/s, music pieces/s),
  ``--rounds`` times per model, alternating; the median is reported;
- padding of the training batches: padded tokens / real tokens, with the tasks' length
  bucketing, and with plain random batches of the same size for comparison;
- with our layers only, generation: language-model sampling in characters/s (one stream and
  32 streams) and music generation steps/s. The compiled samplers step our cells directly;
  Keras' layers have no such step, so the table says n/a there (benchmarks/charlm.py compares
  the sampler with a ``model.predict`` loop instead);
- peak memory: a separate process per model trains the epoch and evaluates, and reports its
  peak resident memory (``ru_maxrss``; TensorFlow itself takes about 0.6 GB of it).

Data (``$NLP_TASKS_DATA``, default
``../shared/data``): CoNLL-2003 train/test, SST-5 train/test, the first ``--lm-chars``
characters of tiny-shakespeare (the last 10% of them held out), JSB Chorales. Configurations are
the tasks' defaults, as in the quality benchmarks (NER with word dropout 0.2). Writes
``benchmarks/results/speed.json`` and the "Speed" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import shlex
import shutil
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

    from nlp_tasks.batching import bucketed_batches

    lengths = np.asarray(lengths)
    real = int(lengths.sum())
    bucketed = sum(len(b) * int(lengths[b].max()) for b in bucketed_batches(lengths, batch_size, seed=seed,
                                                                               epoch=0, shuffle=shuffle))
    order = np.random.default_rng(seed).permutation(len(lengths))
    plain = sum(len(b) * int(lengths[b].max()) for b in np.array_split(order, -(-len(order) // batch_size)))
    return {"real_tokens": real, "bucketed": bucketed / real, "random_batches": plain / real}


_RECORD: dict = {}  # the record of the pipeline being built now


def _instrument(record: dict):
    """From now on, time every epoch's training batches, note the training batches' padding,
    and keep the model and dataset that ``fit`` trains, all into ``record``."""
    import nlp_tasks.training as training
    from nlp_tasks.batching import Batches

    first = not _RECORD
    _RECORD["current"] = record
    if not first:
        return

    class EpochTimer(training.callback_base()):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = self.last = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.last = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            _RECORD["current"].setdefault("epoch_seconds", []).append(self.last - self.start)

    fit = training.fit

    def timed_fit(model, train, *args, callbacks=(), **kwargs):
        _RECORD["current"]["_fit"] = (model, train)
        if isinstance(train, Batches) and "padding" not in _RECORD["current"]:  # the training batches
            _RECORD["current"]["padding"] = _padding(train.lengths, train.batch_size, train.seed, train.shuffle)
        return fit(model, train, *args, callbacks=[*callbacks, EpochTimer()], **kwargs)

    training.fit = timed_fit


def _run_ner(args, record, data):
    from tasks.ner import NERConfig, NERPipeline

    pipe = NERPipeline(NERConfig(epochs=args.epochs, word_dropout=0.2))
    summary = pipe.fit(data / "conll2003" / "train.txt", None, verbose=0)
    record["train_examples"] = summary["train_sentences"]
    report = pipe.evaluate(data / "conll2003" / "test.txt")
    record["predict_per_second"] = report["sentences_per_second"]
    return pipe, lambda: pipe.evaluate(data / "conll2003" / "test.txt")["sentences_per_second"]


def _run_sentiment(args, record, data):
    from tasks.sentiment import SentimentConfig, SentimentPipeline

    pipe = SentimentPipeline(SentimentConfig(epochs=args.epochs))
    summary = pipe.fit(data / "sst" / "sst5.train.txt", None, verbose=0)
    record["train_examples"] = summary["train_examples"]
    record["predict_per_second"] = pipe.evaluate(data / "sst" / "sst5.test.txt")["texts_per_second"]
    return pipe, lambda: pipe.evaluate(data / "sst" / "sst5.test.txt")["texts_per_second"]


def _run_charlm(args, record, data, ours: bool):
    from tasks.charlm import LanguageModelConfig, LanguageModelPipeline

    text = (data / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")[: args.lm_chars]
    tmp = Path(tempfile.mkdtemp(prefix="speed-charlm-"))  # read again by each evaluation
    atexit.register(shutil.rmtree, tmp, True)
    corpus = tmp / "shakespeare.txt"
    corpus.write_text(text, encoding="utf-8")
    pipe = LanguageModelPipeline(LanguageModelConfig(epochs=args.epochs))
    pipe.fit(corpus, None, verbose=0)
    cut = int(len(text) * 0.9)
    (tmp / "held-out.txt").write_text(text[cut:], encoding="utf-8")
    record["train_examples"] = cut  # characters (the corpus is split by characters)

    def predict():
        report = pipe.evaluate(tmp / "held-out.txt")
        return report["tokens"] / report["seconds"]

    record["predict_per_second"] = predict()
    record["padding"] = {"real_tokens": cut, "bucketed": 1.0, "random_batches": 1.0, "note": "stream mode"}
    if ours:
        for streams in (1, 32):
            pipe.generate(prime="ROMEO:", length=20, seed=0, n=streams)  # compile
            start = time.perf_counter()
            pipe.generate(prime="ROMEO:", length=400, seed=0, n=streams)
            record[f"sample_chars_per_second_{streams}"] = streams * 400 / (time.perf_counter() - start)
    return pipe, predict


def _run_music(args, record, data, ours: bool):
    from tasks.music import MusicConfig, MusicPipeline

    source = data / "jsb_chorales" / "jsb-chorales-quarter.json"
    pipe = MusicPipeline(MusicConfig(epochs=args.epochs))
    summary = pipe.fit(f"{source}:train", None, verbose=0)
    record["train_examples"] = summary.get("train_pieces")

    def predict():
        report = pipe.evaluate(f"{source}:test")
        return report["pieces"] / report["seconds"]

    record["predict_per_second"] = predict()
    if ours:
        pipe.generate(steps=10, seed=0)  # compile
        start = time.perf_counter()
        pipe.generate(steps=400, seed=0)
        record["generation_steps_per_second"] = 400 / (time.perf_counter() - start)
    return pipe, predict


def _runner(task, ours):
    return {"ner": _run_ner, "sentiment": _run_sentiment,
            "charlm": lambda *a: _run_charlm(*a, ours=ours), "music": lambda *a: _run_music(*a, ours=ours)}[task]


def _build(task: str, impl: str, args) -> tuple[dict, object]:
    """Train one epoch of ``task`` with our layers or Keras'; (record, predict callable)."""
    from nlp_tasks.io.paths import data_dir
    from nlp_tasks.layers import keras_builtin_layers

    record: dict = {"task": task, "impl": impl}
    _instrument(record)
    ours = impl == "ours"
    with contextlib.nullcontext() if ours else keras_builtin_layers():
        start = time.perf_counter()
        _, predict = _runner(task, ours)(args, record, data_dir())
        record["total_seconds"] = time.perf_counter() - start
    return record, predict


def memory_child(task: str, impl: str, args) -> dict:
    """One model in its own process: the epoch, the evaluation, and the peak resident memory."""
    import resource

    record, _ = _build(task, impl, args)
    record["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record.pop("_fit")
    return record


def _train_seconds(model, batches) -> float:
    start = time.perf_counter()
    for batch in batches:  # (x, y) or (x, y, sample_weight)
        model.train_on_batch(*batch)
    return time.perf_counter() - start


def timing_child(task: str, args) -> dict:
    """Both models in one process, interleaved chunk by chunk (see the module notes)."""
    from nlp_tasks.layers import keras_builtin_layers

    records, predicts, models = {}, {}, {}
    for impl in ("ours", "keras"):
        records[impl], predicts[impl] = _build(task, impl, args)
        models[impl], train = records[impl].pop("_fit")

    def keras_predict(predict=predicts["keras"]):  # an evaluation may build a model (charlm's stateful one)
        with keras_builtin_layers():
            return predict()

    predicts["keras"] = keras_predict
    batches = list(train)  # one epoch of the (last-built) pipeline's training batches; both read the same data
    for impl in ("ours", "keras"):  # trace train_on_batch on every distinct batch shape class
        _train_seconds(models[impl], batches[: min(len(batches), 8)])
    chunks = [c for c in (batches[i::args.chunks] for i in range(args.chunks)) if c]
    seconds = {"ours": [], "keras": []}
    for i, chunk in enumerate(chunks):
        for impl in (("ours", "keras") if i % 2 == 0 else ("keras", "ours")):
            seconds[impl].append(_train_seconds(models[impl], chunk))
    predict = {"ours": [], "keras": []}
    for r in range(args.rounds):
        for impl in (("ours", "keras") if r % 2 == 0 else ("keras", "ours")):
            predict[impl].append(predicts[impl]())
    return {"task": task, "batches": len(batches), "chunks": len(chunks), "chunk_seconds": seconds,
            "predict_per_second": predict, "records": records}


# --------------------------------------------------------------------------------------- parent
def _child_run(*child_args, args) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), *child_args, "--epochs", "1",
               "--lm-chars", str(args.lm_chars), "--chunks", str(args.chunks), "--rounds", str(args.rounds)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(child_args)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def summarise(task: str, timing: dict, memory: dict) -> dict:
    seconds, predict, ours_record = timing["chunk_seconds"], timing["predict_per_second"], timing["records"]["ours"]
    row = {"task": task, "data": DATASETS[task], "batches": timing["batches"], "chunks": timing["chunks"],
           "epoch_ratio": statistics.median(o / k for o, k in zip(seconds["ours"], seconds["keras"])),
           "predict_ratio": statistics.median(o / k for o, k in zip(predict["ours"], predict["keras"])),
           "padding": ours_record["padding"], "chunk_seconds": seconds, "predict_rounds": predict}
    for impl in ("ours", "keras"):
        epoch = sum(seconds[impl])
        row[impl] = {"epoch_seconds": epoch,
                     "examples_per_second": timing["records"][impl]["train_examples"] / epoch,
                     "first_epoch_seconds": timing["records"][impl]["epoch_seconds"][0],
                     "predict_per_second": statistics.median(predict[impl]),
                     "peak_rss_mb": memory[impl]["peak_rss_mb"] if memory else None}
    for key in ("sample_chars_per_second_1", "sample_chars_per_second_32", "generation_steps_per_second"):
        if key in ours_record:
            row[key] = ours_record[key]
    return row


def _mb(side: dict) -> str:
    return "-" if side["peak_rss_mb"] is None else f"{side['peak_rss_mb']:.0f}"


def markdown(result: dict) -> str:
    m = result["machine"]
    rows = result["results"]
    lines = [
        f"On {m['cpu']} ({m['cores']} cores, CPU only), TensorFlow {m.get('tensorflow')}, Keras {m.get('keras')}. "
        "Each row was measured by the command below it (date, commit and 1-min load average at its start and end).",
        "",
        "Each task's own pipeline and default model, built with our layers and with Keras' built-in `GRU` in "
        "their place, both in one process. Epoch = one epoch of the task's training batches, fed to each model "
        "in chunks, alternating model from chunk to chunk (the first, tracing epoch is not counted); epoch "
        "ratio = median of per-chunk time ratios ours/keras (< 1: ours faster). Prediction = the task's "
        "`evaluate` on its test split, alternating rounds, median; its ratio is ours/keras throughput (> 1: "
        "ours faster). Padding = padded / real tokens of the training batches with the task's length "
        "bucketing (and with random batches). Generation needs our cells (n/a for Keras). Peak memory: each "
        "model alone in a process (epoch + evaluation), `ru_maxrss`.", "",
        "| data | task | epoch s ours / keras | ratio | train examples/s ours / keras | prediction /s ours / "
        "keras | ratio | padding bucketed (random) | generation (ours) | peak MB ours / keras |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
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
            f"| {r['data']} | {r['task']} | {o['epoch_seconds']:.1f} / {k['epoch_seconds']:.1f} "
            f"| {r['epoch_ratio']:.3f} "
            f"| {o['examples_per_second']:.0f} / {k['examples_per_second']:.0f} "
            f"| {o['predict_per_second']:.0f} / {k['predict_per_second']:.0f} {unit} | {r['predict_ratio']:.3f} "
            f"| {padding} | {gen} | {_mb(o)} / {_mb(k)} |")
    lines.append("")
    for r in rows:
        lines.append(f"- {r['task']}: {r['date']}, commit {r['commit']}, load {r['load_start']:.1f} -> "
                     f"{r['load_end']:.1f}, {r['chunks']} chunks of {r['batches']} batches, {r['rounds']} "
                     f"prediction rounds: `{r['command']}`")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--rounds", type=int, default=3, help="evaluate rounds per model")
    parser.add_argument("--chunks", type=int, default=8, help="interleaved chunks of the timed epoch")
    parser.add_argument("--epochs", type=int, default=1, help=argparse.SUPPRESS)  # the tracing epoch
    parser.add_argument("--lm-chars", type=int, default=200_000, help="tiny-shakespeare characters for charlm")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-model peak-memory processes")
    parser.add_argument("--child-time", metavar="TASK", help=argparse.SUPPRESS)
    parser.add_argument("--child-memory", nargs=2, metavar=("TASK", "IMPL"), help=argparse.SUPPRESS)
    parser.add_argument("--no-results-md", action="store_true", help="write the JSON only")
    args = parser.parse_args(argv)
    if args.child_time:
        print(json.dumps(timing_child(args.child_time, args)))
        return
    if args.child_memory:
        print(json.dumps(memory_child(*args.child_memory, args)))
        return
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown or args.rounds < 1 or args.chunks < 1:
        raise SystemExit(f"--tasks from {', '.join(TASKS)}; --rounds and --chunks >= 1 (got {unknown or ''})")
    import os

    from nlp_tasks.runtime import import_tensorflow

    import_tensorflow()  # quietly, before machine_info asks for TensorFlow's version
    load_start = os.getloadavg()[0]
    command = ("python benchmarks/speed.py " + shlex.join(argv if argv is not None else sys.argv[1:])).strip()
    path = ROOT / "benchmarks" / "results" / "speed.json"
    previous = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    rows = {r["task"]: r for r in previous.get("results", [])}
    for task in tasks:
        timing = _child_run("--child-time", task, args=args)
        memory = None if args.no_memory else {impl: _child_run("--child-memory", task, impl, args=args)
                                              for impl in ("ours", "keras")}
        row = summarise(task, timing, memory)
        row.update(date=now(), command=command, commit=machine_info().get("commit"), load_start=load_start,
                   load_end=os.getloadavg()[0], rounds=args.rounds, lm_chars=args.lm_chars)
        print(f"{task}: epoch {row['ours']['epoch_seconds']:.1f} s ours / {row['keras']['epoch_seconds']:.1f} s keras "
              f"(ratio {row['epoch_ratio']:.3f}), predict ratio {row['predict_ratio']:.3f}", flush=True)
        rows[task] = row
        # Each task's row is written as soon as it is measured, with its own date and command.
        result = {"machine": machine_info(), "results": [rows[t] for t in TASKS if t in rows]}
        write_json("speed.json", result)
    print(markdown(result))
    if not args.no_results_md:
        write_section("Speed: each task with our layers vs Keras' built-in layers", markdown(result))


if __name__ == "__main__":
    main()
