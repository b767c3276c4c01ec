"""Exported models vs the Python pipeline: latency (batch 1) and throughput (batch 64) on CPU.

    .venv/bin/python benchmarks/export.py                     # all four tasks, 5 rounds
    .venv/bin/python benchmarks/export.py --tasks ner --rounds 3

For each task one process trains the task's default model (the quality benchmarks' config) for
one epoch on the first ``--train-examples`` training examples of its benchmark data set (speed
does not depend on how well a model is trained; the vocabulary is smaller than a full run's,
which changes no computation but the size of the embedding tables looked up), exports it as a
SavedModel, ONNX and LiteRT (one LiteRT model per batch size, since a LiteRT model has a fixed
batch) and loads each export in this process the way a client does (``tf.saved_model.load``,
``onnxruntime.InferenceSession`` with its default threads, the ``ai-edge-litert`` interpreter
with ``num_threads`` = the machine's cores). Workloads, on the data set's test split:

- sentiment (SST-5 test texts): the pipeline's ``predict(texts)`` vs the SavedModel's ``serve``
  (strings in, tokeniser and lookups in the graph), and ``classify_ids`` in each format;
- NER (CoNLL-2003 test sentences): the pipeline's ``tag(token lists)`` vs ``serve`` (tokens in;
  it also extracts the entities) and ``tag_ids`` in each format. LiteRT's NER model takes a fixed
  ``--ner-length`` tokens per row (the command's default, 128; CoNLL-2003's longest test sentence
  has 124) and holds length buckets below it: each call is padded to the smallest bucket that
  holds its longest sentence;
- language model (tiny-shakespeare lines): the pipeline's ``score(texts)`` vs ``score``, and
  greedy generation of ``--generate`` characters: the pipeline's compiled sampler
  (``generate(n=, temperature=0)``) vs a Python loop over the ``step`` endpoint (docs/export.md's
  client loop: one call per character, argmax in NumPy);
- music (JSB Chorales test pieces): the pipeline's ``predict(pieces)`` vs ``score``, and greedy
  generation of ``--generate`` frames: ``generate(n=, temperature=0)`` vs a loop over ``step``.

Id-level endpoints get their ids computed beforehand (the client's share, not timed), the string
endpoints and the pipeline get the strings. Batch 1: one item per call over ``--items`` items;
batch 64: the same number of calls of 64 items each, except generation (one call per step, 64
streams). Every contender runs the same workload once per round, the order rotated from round
to round; the figure is the median over ``--rounds`` rounds, and each speed-up is the median of
the per-round ratios pipeline time / export time (so > 1 means the export is faster). Writes
``benchmarks/results/export.json`` and the "Export" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    chunks_of,
    interleaved_times,
    load_endpoint,
    machine_info,
    now,
    runtime_line,
    runtime_versions,
    write_json,
    write_section,
)
from nlp_tasks.batching import pad  # noqa: E402
from nlp_tasks.export import length_buckets  # noqa: E402

TASKS = ("sentiment", "ner", "charlm", "music")
DATASETS = {"sentiment": "sst (sst5)", "ner": "conll2003", "charlm": "tinyshakespeare", "music": "jsb_chorales"}
BIG = 64


class Clients:
    """The endpoints of one task's exports, loaded as a client loads them."""

    def __init__(self, root: Path):
        self.root, self.saved = root, {}

    def savedmodel(self, name):
        import tensorflow as tf

        if "model" not in self.saved:
            self.saved["model"] = tf.saved_model.load(str(self.root / "savedmodel"))
        signature = self.saved["model"].signatures[name]

        def call(**inputs):
            return {k: v.numpy() for k, v in signature(**{k: tf.constant(v) for k, v in inputs.items()}).items()}

        return call

    def litert(self, name, batch):
        return load_endpoint(self.root / f"litert-{batch}", "litert", name)

    def onnx(self, name):
        return load_endpoint(self.root / "onnx", "onnx", name)

    def each_format(self, name, batch):
        """``{format: call}`` for the id-level endpoint ``name`` at a batch size."""
        return {"savedmodel": self.savedmodel(name), "litert": self.litert(name, batch), "onnx": self.onnx(name)}


def export_all(pipe, root: Path, ner_length: int) -> None:
    for fmt, batch in (("savedmodel", 1), ("onnx", 1), ("litert", 1), ("litert", BIG)):
        folder = root / (fmt if fmt != "litert" else f"litert-{batch}")
        start = time.perf_counter()
        pipe.export(folder, fmt, batch_size=batch, length=ner_length)
        print(f"  exported {folder.name} in {time.perf_counter() - start:.1f} s", flush=True)


# ------------------------------------------------------------------------------ tasks
def sentiment(args, data, root):
    from tasks.sentiment import SentimentConfig, SentimentPipeline, read_examples

    train = read_examples(data / "sst" / "sst5.train.txt")[: args.train_examples]
    pipe = SentimentPipeline(SentimentConfig(epochs=1))
    pipe.fit(train, None, verbose=0)
    export_all(pipe, root, args.ner_length)
    clients = Clients(root)
    texts = [t for t, _ in read_examples(data / "sst" / "sst5.test.txt")]
    vocab = pipe.vocabs["words"]
    workloads = {}
    for batch in (1, BIG):
        calls = chunks_of(texts[: args.items * batch], batch)
        ids = [vocab.encode_batch(call) for call in calls]
        serve = clients.savedmodel("serve")
        contenders = {"pipeline predict": lambda calls=calls: [pipe.predict(c) for c in calls],
                      "savedmodel serve (strings)": lambda calls=calls: [serve(texts=np.array(c)) for c in calls]}
        for fmt, call in clients.each_format("classify_ids", batch).items():
            contenders[f"{fmt} classify_ids"] = lambda call=call, ids=ids: [call(word_ids=x) for x in ids]
        workloads[f"classify, batch {batch}"] = {"calls": len(calls), "items": len(calls) * batch, "unit": "texts",
                                                 "contenders": contenders}
    return pipe, workloads


def ner(args, data, root):
    from nlp_tasks.data.readers import read_conll
    from tasks.ner import NERConfig, NERPipeline

    train = read_conll(data / "conll2003" / "train.txt")[: args.train_examples]
    pipe = NERPipeline(NERConfig(epochs=1, word_dropout=0.2))
    pipe.fit(train, None, verbose=0)
    export_all(pipe, root, args.ner_length)
    clients = Clients(root)
    sentences = [s for s, _ in read_conll(data / "conll2003" / "test.txt") if 0 < len(s) <= args.ner_length]
    workloads = {}
    for batch in (1, BIG):
        calls = chunks_of(sentences[: args.items * batch], batch)
        inputs = []
        for call in calls:
            words, cases, chars = pipe.encode(call)
            inputs.append((words, cases, chars))
        # LiteRT: each call padded to the smallest length bucket that holds its longest sentence
        sizes = [*length_buckets(args.ner_length), args.ner_length]
        runners = {n: clients.litert("tag_ids" if n == args.ner_length else f"tag_ids_{n}", batch) for n in sizes}
        fixed = []
        for x in inputs:
            n = min(size for size in sizes if size >= x[0].shape[1])
            fixed.append((runners[n], tuple(np.pad(a, [(0, 0), (0, n - a.shape[1])] + [(0, 0)] * (a.ndim - 2))
                                            for a in x)))
        tokens = [np.array([s + [""] * (max(map(len, call)) - len(s)) for s in call]) for call in calls]
        serve = clients.savedmodel("serve")
        contenders = {"pipeline tag": lambda calls=calls: [pipe.tag(c) for c in calls],
                      "savedmodel serve (strings)": lambda tokens=tokens: [serve(tokens=t) for t in tokens]}
        for fmt, call in clients.each_format("tag_ids", batch).items():
            if fmt == "litert":
                contenders["litert tag_ids (length buckets)"] = lambda fixed=fixed: [
                    run(word_ids=w, case_ids=c, char_ids=ch) for run, (w, c, ch) in fixed]
                continue
            contenders[f"{fmt} tag_ids"] = lambda call=call, xs=inputs: [call(word_ids=w, case_ids=c, char_ids=ch)
                                                                          for w, c, ch in xs]
        workloads[f"tag, batch {batch}"] = {"calls": len(calls), "items": len(calls) * batch, "unit": "sentences",
                                            "contenders": contenders}
    return pipe, workloads


def _greedy_tokens(step, batch, state_size, bos, never, length):
    token, state = np.full((batch,), bos, np.int32), np.zeros((batch, state_size), np.float32)
    for _ in range(length):
        out = step(token=token, state=state)
        logits = np.array(out["logits"], np.float64)
        logits[:, never] = -np.inf
        token, state = logits.argmax(axis=1).astype(np.int32), out["next_state"]
    return token


def charlm(args, data, root):
    from tasks.charlm import LanguageModelConfig, LanguageModelPipeline

    text = (data / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    corpus = root / "train.txt"
    corpus.write_text(text[: args.train_examples * 100], encoding="utf-8")  # ~100 characters per example
    pipe = LanguageModelPipeline(LanguageModelConfig(epochs=1))
    pipe.fit(corpus, None, verbose=0)
    export_all(pipe, root, args.ner_length)
    clients = Clients(root)
    meta = json.loads((root / "onnx" / "export.json").read_text(encoding="utf-8"))
    known = set(pipe.vocab.tokens)
    lines = [line for line in text[len(text) // 2:].splitlines() if line.strip() and set(line) <= known]
    workloads = {}
    for batch in (1, BIG):
        calls = chunks_of(lines[: args.items * batch], batch)
        ids = [pipe.vocab.encode_batch(c, add_eos=pipe.scores_end) for c in calls]
        contenders = {"pipeline score": lambda calls=calls: [pipe.score(c) for c in calls]}
        for fmt, call in clients.each_format("score", batch).items():
            contenders[f"{fmt} score"] = lambda call=call, ids=ids: [call(token_ids=x) for x in ids]
        workloads[f"score, batch {batch}"] = {"calls": len(calls), "items": sum(map(len, calls)), "unit": "lines",
                                              "contenders": contenders}
    for batch in (1, BIG):
        contenders = {"pipeline generate": lambda batch=batch: pipe.generate(length=args.generate, temperature=0.0,
                                                                             n=batch)}
        for fmt, step in clients.each_format("step", batch).items():
            contenders[f"{fmt} step loop"] = lambda step=step, batch=batch: _greedy_tokens(
                step, batch, meta["state_size"], meta["bos_id"], meta["never_drawn"], args.generate)
        workloads[f"generate, {batch} stream{'s' if batch > 1 else ''}"] = {
            "calls": args.generate, "items": batch * args.generate, "unit": "characters", "contenders": contenders}
    return pipe, workloads


def _greedy_frames(step, batch, state_size, length):
    frame, state = np.zeros((batch, 88), np.float32), np.zeros((batch, state_size), np.float32)
    for _ in range(length):
        out = step(frame=frame, state=state)
        frame, state = (np.asarray(out["logits"]) > 0).astype(np.float32), out["next_state"]
    return frame


def music(args, data, root):
    from tasks.music import MusicConfig, MusicPipeline
    from tasks.music import data as md

    source = data / "jsb_chorales" / "jsb-chorales-quarter.json"
    pipe = MusicPipeline(MusicConfig(epochs=1))
    pipe.fit(md.read_pianoroll_json(source, "train")[: args.train_examples], None, verbose=0)
    export_all(pipe, root, args.ner_length)
    clients = Clients(root)
    meta = json.loads((root / "onnx" / "export.json").read_text(encoding="utf-8"))
    pieces = md.read_pianoroll_json(source, "test")
    pieces = (pieces * (1 + args.items * BIG // len(pieces)))[: args.items * BIG]  # 77 test pieces, repeated
    workloads = {}
    for batch in (1, BIG):
        calls = chunks_of(pieces[: args.items * batch], batch)
        rolls = [(pad(call, dtype=np.float32), np.array([len(p) for p in call], np.int32)) for call in calls]
        contenders = {"pipeline predict": lambda calls=calls: [pipe.predict(c) for c in calls]}
        for fmt, call in clients.each_format("score", batch).items():
            contenders[f"{fmt} score"] = lambda call=call, rolls=rolls: [call(roll=r, lengths=n) for r, n in rolls]
        workloads[f"score, batch {batch}"] = {"calls": len(calls), "items": len(calls) * batch, "unit": "pieces",
                                              "contenders": contenders}
    for batch in (1, BIG):
        contenders = {"pipeline generate": lambda batch=batch: pipe.generate(steps=args.generate, temperature=0.0,
                                                                             n=batch)}
        for fmt, step in clients.each_format("step", batch).items():
            contenders[f"{fmt} step loop"] = lambda step=step, batch=batch: _greedy_frames(
                step, batch, meta["state_size"], args.generate)
        workloads[f"generate, {batch} stream{'s' if batch > 1 else ''}"] = {
            "calls": args.generate, "items": batch * args.generate, "unit": "frames", "contenders": contenders}
    return pipe, workloads


# ------------------------------------------------------------------------------ timing
def measure(workload: dict, rounds: int) -> dict:
    """Interleaved rounds over the contenders; medians and per-round ratios to the pipeline's."""
    contenders = workload["contenders"]
    names = list(contenders)
    times = interleaved_times(contenders, rounds)
    baseline = names[0]
    rows = []
    for name in names:
        seconds = statistics.median(times[name])
        ratios = [b / t for b, t in zip(times[baseline], times[name])]
        rows.append({"contender": name, "seconds": seconds, "ms_per_call": 1000 * seconds / workload["calls"],
                     "items_per_second": workload["items"] / seconds, "round_seconds": times[name],
                     "speedup_vs_pipeline": statistics.median(ratios)})
    return {"calls": workload["calls"], "items": workload["items"], "unit": workload["unit"], "rows": rows}


def markdown(result: dict) -> str:
    lines = ["Each task's default model, trained one epoch on the first training examples (speed does not "
             "depend on training), exported in every format and loaded in the benchmark process as a client "
             "loads it (LiteRT: one model per batch size, `num_threads` = cores; onnxruntime: its default "
             "threads). Id-level endpoints get precomputed ids; the pipeline and the `serve` endpoints get "
             "strings. Interleaved rounds, order rotated; time per call = the median round's time / calls "
             "(each round's times in the JSON); speed-up = median of the per-round ratios pipeline time / "
             "export time (> 1: the export is faster). LiteRT's NER calls go through the smallest length bucket "
             "that holds their sentences. Workloads and method: `benchmarks/export.py`."]
    for task in TASKS:
        entry = result["tasks"].get(task)
        if entry is None:
            continue
        m, v = entry["machine"], entry["versions"]
        lines += ["", f"### {DATASETS[task]}: {task}", "",
                  runtime_line(entry["date"], m, v) + f"; {entry['rounds']} rounds; 1-min load average "
                  f"{entry['load_start']:.1f} at start, {entry['load_end']:.1f} at end"
                  + (f"; LiteRT NER length {entry['ner_length']}" if task == "ner" else "") + ". Command:", "",
                  f"    {entry['command']}", "", f"Model: {entry['model']}.", "",
                  "| workload | contender | ms per call (generation: per step) | per second | speed-up vs pipeline |",
                  "|---|---|---|---|---|"]
        for workload, w in entry["workloads"].items():
            count = f"{w['calls']} {'steps' if workload.startswith('generate') else 'calls'}"
            for row in w["rows"]:
                lines.append(f"| {workload} ({count}) | {row['contender']} | {row['ms_per_call']:.2f} | "
                             f"{row['items_per_second']:,.0f} {w['unit']} | {row['speedup_vs_pipeline']:.2f} |")
    return "\n".join(lines)


def _model_line(pipe) -> str:
    cfg = pipe.config
    parts = [f"{k}={getattr(cfg, k)}" for k in ("cell", "units", "layers", "embedding_dim", "word_dim", "char_units",
                                               "head") if hasattr(cfg, k)]
    return ", ".join(parts) + f", {pipe.require_model().count_params():,} parameters"


def main(argv=None) -> None:

    from nlp_tasks.io.paths import data_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--items", type=int, default=5, help="calls per workload at each batch size")
    parser.add_argument("--generate", type=int, default=100, help="tokens / frames generated per stream")
    parser.add_argument("--train-examples", type=int, default=2000, help="training examples for the one epoch")
    parser.add_argument("--ner-length", type=int, default=128, help="the LiteRT NER model's fixed length")
    args = parser.parse_args(argv)
    data = data_dir()
    missing = [DATASETS[t] for t in args.tasks if not (data / DATASETS[t].split()[0]).is_dir()]
    if missing:
        raise SystemExit(f"error: benchmark data not found in {data} ({', '.join(missing)}); set NLP_TASKS_DATA")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    command = shlex.join([".venv/bin/python", "benchmarks/export.py", *(argv if argv is not None else sys.argv[1:])])
    path = Path(__file__).resolve().parent / "results" / "export.json"
    result = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"tasks": {}}
    versions = runtime_versions()
    for task in args.tasks:
        print(f"{task}: training one epoch and exporting", flush=True)
        entry = {"date": now(), "command": command, "machine": machine_info(), "versions": versions,
                 "rounds": args.rounds, "ner_length": args.ner_length, "load_start": os.getloadavg()[0]}
        root = Path(tempfile.mkdtemp(prefix=f"bench-export-{task}-"))
        try:
            pipe, workloads = globals()[task](args, data, root)
            entry.update(model=_model_line(pipe), workloads={})
            for name, workload in workloads.items():
                entry["workloads"][name] = measure(workload, args.rounds)
                best = max(entry["workloads"][name]["rows"][1:], key=lambda r: r["speedup_vs_pipeline"])
                print(f"  {name}: best {best['contender']} x{best['speedup_vs_pipeline']:.2f}", flush=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        entry["load_end"] = os.getloadavg()[0]
        result["tasks"][task] = entry  # tasks measured in earlier runs keep their own entry
        write_json("export.json", result)
    write_section("Export: exported models vs the Python pipeline", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
