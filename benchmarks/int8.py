"""int8 exports against float exports of the same trained model, per task, on the benchmark test sets.

    python benchmarks/int8.py train               # trains the models (about an hour on 2 cores)
    python benchmarks/int8.py measure             # exports, scores and times them

``train`` runs each task's recipe (below) through the CLI into ``--work`` (default
``/tmp/bench/int8``), skipping a model that is already there. ``measure`` exports each model as
ONNX and LiteRT, float and ``--quantize int8``, loads every export in this process as a client
does (``onnxruntime.InferenceSession``, the ``ai-edge-litert`` interpreter; no nlp-tasks code in
the scoring path but the encoding of the inputs to ids) and computes the task's benchmark metric
on the test split from the export's outputs, the bytes of its model files, and the time per call
at batch 1 and batch 64; with the language model, also how LiteRT's and ONNX Runtime's time per
step grows with the length at batch 64 (:func:`loop_scaling`). Writes
``benchmarks/results/int8.json`` and the "int8 exports" section of ``benchmarks/RESULTS.md``.
About 30 minutes for all seven models on 2 cores; nothing else should run meanwhile.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import (  # noqa: E402
    chunks_of,
    interleaved_times,
    load_endpoint,
    median_time,
    runtime_line,
)

# Each model's recipe: the quality benchmark's configuration (the CLI's defaults or the task's
# preset), with fewer epochs where the full run takes longer than this benchmark should (the
# comparison is int8 against float of the same model, so a shorter run changes both columns).
RECIPES = {
    "sst5": ["sentiment", "train", "--train", "{data}/sst/sst5.train.txt", "--dev", "{data}/sst/sst5.dev.txt"],
    "sst2": ["sentiment", "train", "--train", "{data}/sst/sst2.train.txt", "--dev", "{data}/sst/sst2.dev.txt"],
    "conll2003": ["ner", "train", "--preset", "conll2003", "--epochs", "10", "--train", "{data}/conll2003/train.txt",
                  "--dev", "{data}/conll2003/valid.txt"],
    "tinyshakespeare": ["charlm", "train", "--preset", "tinyshakespeare", "--epochs", "2",
                        "--train", "{data}/tinyshakespeare/input.txt"],
    "jsb_chorales": ["music", "train", "--train", "{data}/jsb_chorales/jsb-chorales-quarter.json"],
    "jsb_chorales-nade": ["music", "train", "--train", "{data}/jsb_chorales/jsb-chorales-quarter.json",
                          "--head", "nade", "--dropout", "0.5", "--input-dropout", "0.2"],
    "cmudict": ["g2p", "train", "--train", "builtin:cmudict", "--preset", "cmudict", "--epochs", "5"],
}


def train(args, data: Path) -> None:
    for name in args.models:
        out = args.work / name
        if (out / "pipeline.json").exists():
            print(f"{name}: already trained in {out}", flush=True)
            continue
        command = [sys.executable, str(ROOT / "cli.py")] + [a.format(data=data) for a in RECIPES[name]]
        command += ["--out", str(out)]
        print(f"{name}: {shlex.join(command)}", flush=True)
        start = time.perf_counter()
        with open(args.work / f"{name}.log", "w", encoding="utf-8") as log:
            subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        print(f"{name}: trained in {(time.perf_counter() - start) / 60:.1f} min", flush=True)



# ------------------------------------------------------------------------------ clients
BIG = 64


def exported(pipe, root: Path, fmt: str, quantize: bool, batch: int) -> Path:
    """The export of ``pipe`` in ``fmt`` (LiteRT: for a fixed ``batch``), written once into ``root``."""
    name = f"{fmt}{'-int8' if quantize else ''}" + (f"-{batch}" if fmt == "litert" else "")
    folder = root / name
    if not (folder / "export.json").exists():
        pipe.export(folder, fmt, batch_size=batch, length=NER_LENGTH, quantize="int8" if quantize else None)
    return folder


def model_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix in (".onnx", ".tflite"))


def fill(array: np.ndarray, rows: int) -> np.ndarray:
    """``array`` with rows of zeros (padding) added up to ``rows`` (a LiteRT model's fixed batch)."""
    if len(array) >= rows:
        return array
    return np.concatenate([array, np.zeros((rows - len(array), *array.shape[1:]), array.dtype)])


# ------------------------------------------------------------------------------ tasks
# Each task gives the endpoint measured, its calls over the whole test set at batch 64 as
# ``(rows, inputs)``, single-item inputs for batch 1, the metric of the outputs of the calls and,
# where one endpoint call is not the whole job, a ``loader(folder, format) -> call`` (NER's LiteRT
# length buckets, g2p's greedy decoding loop).
NER_LENGTH = 128  # the LiteRT NER model's fixed length (CoNLL-2003's longest test sentence: 124 tokens)


def _task(endpoint, calls, singles, metric, name, better, loader=None):
    return {"endpoint": endpoint, "calls": calls, "singles": singles, "metric": metric, "metric_name": name,
            "better": better, "loader": loader}


def sentiment_task(pipe, data: Path, name: str, items: int):
    from tasks.sentiment import read_examples

    pairs = read_examples(data / "sst" / f"{name}.test.txt")
    vocab, index = pipe.vocabs["words"], {label: i for i, label in enumerate(pipe.labels)}
    gold = np.array([index[label] for _, label in pairs])
    calls = [(len(c), {"word_ids": vocab.encode_batch([t for t, _ in c])}) for c in chunks_of(pairs, BIG)]
    singles = [{"word_ids": vocab.encode_batch([t])} for t, _ in pairs[:items]]

    def accuracy(outputs):
        predicted = np.concatenate([o["probabilities"][:n].argmax(-1) for (n, _), o in zip(calls, outputs)])
        return 100 * float(np.mean(predicted == gold))

    return _task("classify_ids", calls, singles, accuracy, "accuracy %", "higher")


def ner_task(pipe, data: Path, name: str, items: int):
    from nlp_tasks.data.readers import read_conll
    from nlp_tasks.metrics.chunks import conlleval

    pairs = [(s, t) for s, t in read_conll(data / "conll2003" / "test.txt") if s]

    def encoded(sentences):
        return dict(zip(("word_ids", "case_ids", "char_ids"), pipe.encode(sentences)))

    def loader(folder: Path, fmt: str):
        if fmt != "litert":
            return load_endpoint(folder, fmt, "tag_ids")
        buckets = json.loads((folder / "export.json").read_text(encoding="utf-8"))["length_buckets"]
        runners = {size: load_endpoint(folder, fmt, name) for name, size in buckets.items()}

        def call(**inputs):  # the smallest length bucket that holds the batch's longest sentence
            size = min(s for s in runners if s >= inputs["word_ids"].shape[1])
            return runners[size](**{k: np.pad(v, [(0, 0), (0, size - v.shape[1])] + [(0, 0)] * (v.ndim - 2))
                                    for k, v in inputs.items()})

        return call

    calls = [(len(c), encoded([s for s, _ in c])) for c in chunks_of(pairs, BIG)]
    singles = [encoded([s]) for s, _ in pairs[:items]]

    def entity_f1(outputs):
        predicted, k = [], 0
        for (n, _), o in zip(calls, outputs):
            for row in o["tag_ids"][:n]:
                predicted.append([pipe.labels[i] for i in row[:len(pairs[k][0])]])
                k += 1
        return 100 * conlleval([t for _, t in pairs], predicted)["f1"]

    return _task("tag_ids", calls, singles, entity_f1, "entity F1", "higher", loader=loader)


def charlm_task(pipe, data: Path, name: str, items: int, window: int = 256):
    from tasks.charlm.data import split_fraction

    text = (data / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    _, valid = split_fraction(text, pipe.config.valid_fraction)
    known = set(pipe.vocab.tokens)
    pieces = [p for p in chunks_of(valid, window) if len(p) == window and set(p) <= known]
    ids = pipe.vocab.encode_batch(pieces, add_eos=pipe.scores_end)
    tokens = int((ids > 0).sum())
    calls = [(len(c), {"token_ids": c}) for c in chunks_of(ids, BIG)]
    singles = [{"token_ids": ids[i:i + 1]} for i in range(min(items, len(ids)))]

    def nats(outputs):
        return -sum(float(o["log_prob"][:n].sum()) for (n, _), o in zip(calls, outputs)) / tokens

    return _task("score", calls, singles, nats, f"nats/char ({window}-character pieces)", "lower")


def music_task(pipe, data: Path, name: str, items: int):
    from nlp_tasks.batching import pad
    from tasks.music import data as md

    pieces = md.read_pianoroll_json(data / "jsb_chorales" / "jsb-chorales-quarter.json", "test")
    steps = sum(len(p) for p in pieces)

    def rolls(c):
        return {"roll": pad(c, dtype=np.float32), "lengths": np.array([len(p) for p in c], np.int32)}

    calls = [(len(c), rolls(c)) for c in chunks_of(pieces, BIG)]
    singles = [rolls([p]) for p in pieces[:items]]

    def nll(outputs):
        return -sum(float(o["log_likelihood"][:n].sum()) for (n, _), o in zip(calls, outputs)) / steps

    return _task("score", calls, singles, nll, "NLL/step", "lower")


def greedy_decoder(folder: Path, fmt: str):
    """``call(letter_ids) -> {"tokens"}``: greedy decoding through the g2p export's ``encode`` and
    ``step`` (docs/export.md's client loop): tokens (rows, max_output), -1 past each output's end."""
    meta = json.loads((folder / "export.json").read_text(encoding="utf-8"))
    encode, step = load_endpoint(folder, fmt, "encode"), load_endpoint(folder, fmt, "step")

    def call(letter_ids):
        start = encode(letter_ids=letter_ids)
        context = {name: start[name] for name in meta["context"]}
        rows = len(letter_ids)
        state, token = start["state"], np.full(rows, meta["bos_id"], np.int32)
        tokens, finished = np.full((rows, meta["max_output"]), -1, np.int32), np.zeros(rows, bool)
        for t in range(meta["max_output"]):
            result = step(token=token, state=state, **context)
            logits = np.array(result["logits"], np.float64)
            logits[:, meta["never_drawn"]] = -np.inf
            best = logits.argmax(axis=1).astype(np.int32)
            ended = ~finished & (best == meta["eos_id"])
            tokens[~finished & ~ended, t] = best[~finished & ~ended]
            finished |= ended
            if finished.all():
                break
            token, state = np.where(finished, meta["eos_id"], best).astype(np.int32), result["next_state"]
        return {"tokens": tokens}

    return call


def g2p_task(pipe, data: Path, name: str, items: int):
    from nlp_tasks.batching import pad
    from nlp_tasks.metrics.sequence import word_error_rate

    lexicon = pipe.lexicon("builtin:cmudict:test")
    words = list(lexicon)
    phonemes = pipe.vocab("phonemes")
    calls = [(len(c), {"letter_ids": pad([pipe.encode_word(w) for w in c])}) for c in chunks_of(words, BIG)]
    singles = [{"letter_ids": pad([pipe.encode_word(w)])} for w in words[:items]]

    def wer(outputs):
        predicted = [tuple(phonemes.id_to_token(int(i)) for i in row if i >= 0)
                     for (n, _), o in zip(calls, outputs) for row in o["tokens"][:n]]
        return 100 * word_error_rate(predicted, [lexicon[w] for w in words])

    return _task("encode + step (greedy)", calls, singles, wer, "WER % (greedy, no stress)", "lower",
                 loader=greedy_decoder)


TASKS = {"sst5": sentiment_task, "sst2": sentiment_task, "conll2003": ner_task, "tinyshakespeare": charlm_task,
         "jsb_chorales": music_task, "jsb_chorales-nade": music_task, "cmudict": g2p_task}


# ------------------------------------------------------------------------------ measuring
def load(task, folder: Path, fmt: str):
    return task["loader"](folder, fmt) if task["loader"] else load_endpoint(folder, fmt, task["endpoint"])


def run_all(call, task, fmt: str, limit: int | None = None):
    """The endpoint over every call of the test set, or its first ``limit`` calls (LiteRT: filled
    to its fixed batch)."""
    outputs = []
    for _, inputs in task["calls"][:limit]:
        if fmt == "litert":
            inputs = {k: fill(v, BIG) for k, v in inputs.items()}
        outputs.append(call(**inputs))
    return outputs


def measure_model(name: str, args, data: Path) -> dict:
    from nlp_tasks.export.int8 import quantization_line
    from nlp_tasks.pipeline import Pipeline

    pipe = Pipeline.load(args.work / name)
    task = TASKS[name](pipe, data, name, args.items)
    root = args.work / f"{name}-exports"
    entry = {"model": name, "task": pipe.task, "metric": task["metric_name"], "better": task["better"],
             "endpoint": task["endpoint"], "formats": {}}
    for fmt in ("onnx", "litert"):
        row = {}
        for quantize in (False, True):
            key = "int8" if quantize else "float"
            big = exported(pipe, root, fmt, quantize, BIG)
            call = load(task, big, fmt)
            one = exported(pipe, root, fmt, quantize, 1)  # the size: of the batch-1 model (see markdown)
            row[key] = {"bytes": model_bytes(one), "metric": task["metric"](run_all(call, task, fmt))}
            if quantize:
                meta = json.loads((big / "export.json").read_text(encoding="utf-8"))
                row["quantization"] = quantization_line(meta["quantization"])
            print(f"{name} {fmt} {key}: {task['metric_name']} {row[key]['metric']:.4f}, "
                  f"{row[key]['bytes']:,} bytes", flush=True)
        row["size_ratio"] = row["int8"]["bytes"] / row["float"]["bytes"]
        row["metric_change"] = row["int8"]["metric"] - row["float"]["metric"]
        for batch in (1, BIG):
            contenders = {}
            for key, quantize in (("float", False), ("int8", True)):
                call = load(task, exported(pipe, root, fmt, quantize, batch), fmt)
                if batch == 1:
                    contenders[key] = lambda call=call: [call(**x) for x in task["singles"]]
                else:
                    contenders[key] = lambda call=call: run_all(call, task, fmt, args.big_calls)
            calls = len(task["singles"]) if batch == 1 else len(task["calls"][:args.big_calls])
            times = interleaved_times(contenders, args.rounds)
            row[f"batch {batch}"] = {
                "calls": calls, "float_ms": 1000 * statistics.median(times["float"]) / calls,
                "int8_ms": 1000 * statistics.median(times["int8"]) / calls,
                "ratio": statistics.median(i / f for i, f in zip(times["int8"], times["float"])),
                "round_seconds": times}
            print(f"{name} {fmt} batch {batch}: int8/float time {row[f'batch {batch}']['ratio']:.2f}", flush=True)
        entry["formats"][fmt] = row
    entry["model_line"] = _model_line(pipe)
    return entry


def _model_line(pipe) -> str:
    cfg, metrics = pipe.config, pipe.metrics or {}
    parts = [f"{k}={getattr(cfg, k)}" for k in ("cell", "units", "layers", "head", "epochs") if hasattr(cfg, k)]
    training = metrics.get("training") or {}
    if "epochs_run" in training:
        parts.append(f"{training['epochs_run']} epochs run")
    return ", ".join(parts) + f", {pipe.require_model().count_params():,} parameters"


def loop_scaling(args, lengths=(32, 64, 128, 256), repeats: int = 3) -> dict:
    """Why LiteRT's looped endpoints fall behind at batch 64: the language model's float ``score``
    at batch 64 for several lengths, LiteRT against ONNX; time per step (random ids)."""
    root = args.work / "tinyshakespeare-exports"
    litert, onnx = load_endpoint(root / "litert-64", "litert", "score"), load_endpoint(root / "onnx", "onnx", "score")
    rng, rows = np.random.default_rng(0), []
    for length in lengths:
        ids = rng.integers(4, 40, (BIG, length)).astype(np.int32)
        row = {"length": length}
        for name, call in (("litert", litert), ("onnx", onnx)):
            call(token_ids=ids)  # warm-up
            row[f"{name}_ms"] = 1000 * median_time(lambda call=call: call(token_ids=ids), repeats)
            row[f"{name}_us_per_step"] = 1000 * row[f"{name}_ms"] / length
        rows.append(row)
        print(f"loops: length {length}: LiteRT {row['litert_us_per_step']:.0f} us/step, "
              f"ONNX {row['onnx_us_per_step']:.0f} us/step", flush=True)
    return {"rows": rows, "repeats": repeats}


def measure(args, data: Path) -> None:
    from benchmarks.common import machine_info, now, runtime_versions, write_json

    path = ROOT / "benchmarks" / "results" / "int8.json"
    result = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"models": {}}
    command = shlex.join(["python", "benchmarks/int8.py", *(args.argv or [])])
    versions = runtime_versions()
    for name in args.models:
        entry = measure_model(name, args, data)
        entry.update(date=now(), command=command, machine=machine_info(), versions=versions, rounds=args.rounds,
                     recipe=shlex.join(["nlp-tasks", *(a.format(data="../shared/data") for a in RECIPES[name])]))
        result["models"][name] = entry  # models measured in earlier runs keep their own entry
        write_json("int8.json", result)
    if "tinyshakespeare" in args.models:
        result["loops"] = {**loop_scaling(args), "date": now(), "machine": machine_info()}
        write_json("int8.json", result)
    write_section_from(result)



DATASETS = {"sst5": "sst (sst5)", "sst2": "sst (sst2)", "conll2003": "conll2003", "tinyshakespeare": "tinyshakespeare",
            "jsb_chorales": "jsb_chorales", "jsb_chorales-nade": "jsb_chorales (NADE head)", "cmudict": "cmudict"}
BARS = "size <= 0.3x float; metric within 0.5 points (accuracy, F1) or 0.02 nats; batch-1 time <= 0.7x float"


def _bars(entry, row) -> str:
    limit = 0.02 if entry["metric"].startswith(("nats", "NLL")) else 0.5
    worse = row["metric_change"] if entry["better"] == "lower" else -row["metric_change"]
    met = [row["size_ratio"] <= 0.3, worse <= limit, row["batch 1"]["ratio"] <= 0.7]
    return " / ".join("yes" if m else "**no**" for m in met)


def markdown(result: dict) -> str:
    lines = ["Each task's model trained by the recipe named (the quality benchmark's configuration; some with "
             "fewer epochs, said in each section: the comparison is int8 against float exports of the same "
             "model), exported as ONNX and LiteRT, float and `--quantize int8` (dynamic range: int8 weights, "
             "float activations), and run as a client runs it (onnxruntime with its default threads; the "
             "ai-edge-litert interpreter with `num_threads` = cores and one model per batch size, since a "
             "LiteRT model has a fixed batch). The metric is computed from the export's outputs on the whole "
             "test set (LiteRT: calls of 64 rows, the last one filled with padding rows; NER through the "
             "smallest length bucket that holds each call's sentences). Size: the bytes of the export's model "
             "files (LiteRT: the batch-1 model; one for batch 64 also holds its loops' step buffers as zeros). "
             "Time per call: batch 1 = one test item per call over the first test items, batch 64 = the "
             "first calls of 64 test items (numbers in the JSON); the median round of interleaved rounds; the "
             "ratio is the median of the per-round ratios int8 / float (< 1: int8 is faster). "
             f"Bars of issue 36 ({BARS}): met or **no**, in that order. Method: `benchmarks/int8.py`."]
    for name in DATASETS:
        entry = result["models"].get(name)
        if entry is None:
            continue
        m, v = entry["machine"], entry["versions"]
        lines += ["", f"### {DATASETS[name]}: {entry['task']}", "",
                  runtime_line(entry["date"], m, v) + f"; {entry['rounds']} rounds. Model: "
                  f"`{entry['recipe']}` ({entry['model_line']}). Command: `{entry['command']}` after "
                  f"`python benchmarks/int8.py train --models {name}`.", "",
                  f"| format | {entry['metric']} float | int8 | change | MB float | int8 | size ratio | batch 1 ms "
                  "float | int8 | ratio | batch 64 ms float | int8 | ratio | bars | left float |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        digits = 4 if entry["metric"].startswith(("nats", "NLL")) else 2
        for fmt, row in entry["formats"].items():
            one, big = row["batch 1"], row[f"batch {BIG}"]
            lines.append(
                f"| {fmt} | {row['float']['metric']:.{digits}f} | {row['int8']['metric']:.{digits}f} | "
                f"{row['metric_change']:+.{digits}f} | {row['float']['bytes'] / 1e6:.2f} | "
                f"{row['int8']['bytes'] / 1e6:.2f} | {row['size_ratio']:.3f} | {one['float_ms']:.2f} | "
                f"{one['int8_ms']:.2f} | {one['ratio']:.2f} | {big['float_ms']:.1f} | {big['int8_ms']:.1f} | "
                f"{big['ratio']:.2f} | {_bars(entry, row)} | {row['quantization']} |")
    if "loops" in result:
        loops, m = result["loops"], result["loops"]["machine"]
        lines += ["", "### Why LiteRT falls behind at batch 64: the loop's step buffers", "",
                  "The tinyshakespeare model's float `score` at batch 64 on random ids of each length (the median "
                  f"of {loops['repeats']} calls after one warm-up; {loops['date']}, {m['cpu']}, {m['cores']} cores, "
                  f"commit {m.get('commit')}; measured by the same command). ONNX Runtime's time per step stays "
                  "flat; LiteRT's grows with the length: its `WHILE` loop carries the buffer of every step's "
                  "outputs (length x batch x units, stored in the model as a constant), and a step's cost growing "
                  "in proportion to that buffer points at its being copied at every step (not profiled op by "
                  "op), so a sequence costs time quadratic in its length. Short sequences (NER's length "
                  "buckets, one text at a time) do not suffer; long batches are ONNX's.", "",
                  "| length | LiteRT ms per call | LiteRT us per step | ONNX ms per call | ONNX us per step |",
                  "|---|---|---|---|---|"]
        for row in loops["rows"]:
            lines.append(f"| {row['length']} | {row['litert_ms']:.0f} | {row['litert_us_per_step']:.0f} | "
                         f"{row['onnx_ms']:.0f} | {row['onnx_us_per_step']:.0f} |")
    return "\n".join(lines)


def write_section_from(result: dict) -> None:
    from benchmarks.common import write_section

    write_section("int8 exports: accuracy, size and speed against float", markdown(result))
    print(markdown(result))


def main(argv=None) -> None:
    from nlp_tasks.io.paths import data_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["train", "measure"])
    parser.add_argument("--models", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench/int8"), help="folder of the trained models")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--items", type=int, default=100, help="single-item calls timed at batch 1")
    parser.add_argument("--big-calls", type=int, default=4, help="calls of 64 rows timed at batch 64")
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    args.work.mkdir(parents=True, exist_ok=True)
    data = data_dir()
    if args.step == "train":
        train(args, data)
    else:
        measure(args, data)


if __name__ == "__main__":
    main()
