"""Data bigger than memory for NER and sentiment (issue 34): training on 10k, 100k and 1M examples
read from a file into a memory-mapped table, against the same examples held as Python lists.

The files are made here by cycling through CoNLL-2003's and SST-5's training sets
(``$NLP_TASKS_DATA`` or ../shared/data) up to the number of examples; content that repeats changes
nothing about memory or speed. For each task and size, in processes of their own (peak resident
memory is each process's ``ru_maxrss``):

- ``file``: ``TASK train --train FILE`` as it runs now: the file read a block at a time into an
  :class:`nlp_tasks.data.examples.ExampleTable`, batches read from it;
- ``list`` (where ``--list-limit`` allows): the same file first read into a Python list of
  examples (what every file was read into before), then trained on the list;

each: seconds to read (everything before the model is built: reading, labels, vocabulary,
fingerprint), peak memory over 20 training steps (default model of each task), and the resident
memory at the end. Training speed is measured apart, in one process for both paths
(:func:`paired_speed`: ``--steps`` steps of each after ``--warmup``, in turns of
:data:`PAIRED_BLOCK`), as separate processes differ too much from run to run here. Also
``evaluate`` on the file (seconds, peak memory), up to ``--evaluate-limit`` examples.

    python benchmarks/scale_examples.py                              # both tasks, 10k 100k 1M
    python benchmarks/scale_examples.py --tasks ner --sizes 10000    # a quick look

Writes ``benchmarks/results/scale_examples.json`` and a RESULTS.md section per data set.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import machine_info, measured_child, now, write_json, write_section  # noqa: E402

DATA_SETS = {"ner": "conll2003", "sentiment": "sst"}
PAIRED_BLOCK = 10  # steps of each path in turn in the paired run
HEADINGS = {"ner": "Data bigger than memory: conll2003 repeated to 10k, 100k and 1M sentences",
            "sentiment": "Data bigger than memory: sst (SST-5) repeated to 10k, 100k and 1M sentences"}


def make_file(task: str, path: Path, examples: int) -> Path:
    """``examples`` sentences of the task's training file, cycled, written to ``path``."""
    from nlp_tasks.io.paths import data_dir

    if task == "ner":
        from nlp_tasks.data.readers import read_conll

        base = ["".join(f"{token} {tag}\n" for token, tag in zip(*sentence)) + "\n"
                for sentence in read_conll(data_dir() / "conll2003" / "train.txt")]
    else:
        base = [line + "\n" for line in (data_dir() / "sst" / "sst5.train.txt").read_text(encoding="utf-8").splitlines()
                if line.strip()]
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(examples):
            handle.write(base[i % len(base)])
    return path


def run_child(*args, steps: int = 20, warmup: int = 10) -> dict:
    """``scale_examples.py --child ARGS`` in a process of its own: its JSON answer and its peak memory."""
    return measured_child(__file__, *args, "--steps", steps, "--warmup", warmup)


def child(task: str, kind: str, source: str, steps: int, warmup: int) -> dict:
    import keras

    from nlp_tasks.batching import Batches
    from nlp_tasks.distribute import LOCAL
    from nlp_tasks.training import make_optimizer

    if task == "ner":
        from tasks.ner import NERConfig as Config
        from tasks.ner import NERPipeline as Pipeline
        from tasks.ner import read_sentences as read
    else:
        from tasks.sentiment import SentimentConfig as Config
        from tasks.sentiment import SentimentPipeline as Pipeline
        from tasks.sentiment import read_examples as read
    pipe = Pipeline(Config())
    start = time.perf_counter()
    if kind == "evaluate":
        data = pipe.read_training_data(source)  # labels and vocabulary, then a model to evaluate with
        pipe.build_model()
        start = time.perf_counter()
        report = pipe.evaluate(source)
        return {"evaluate_seconds": time.perf_counter() - start, "examples": report.get("sentences",
                                                                                       report.get("examples"))}
    if kind == "paired":
        return paired_speed(Pipeline, Config, read, source, steps, warmup, PAIRED_BLOCK)
    data = pipe.read_training_data(read(source) if kind == "list" else source)
    read_seconds = time.perf_counter() - start
    model = pipe.build_training_model(data, LOCAL)
    plan = pipe.training_plan(data, model)
    model.compile(optimizer=make_optimizer(pipe.config), loss=plan.loss, metrics=plan.metrics)
    batches = plan.batches.dataset() if isinstance(plan.batches, Batches) else plan.batches
    stamps = []
    callback = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: stamps.append(time.perf_counter()))
    model.fit(batches.take(warmup + steps), epochs=1, verbose=0, callbacks=[callback])
    cfg = pipe.config
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    resident = {name: int(status.get(name, "0 kB").split()[0]) / 1024 for name in ("RssAnon", "RssFile")}
    return {"rss_anon_mb": resident["RssAnon"], "rss_file_mb": resident["RssFile"], "read_seconds": read_seconds,
            "examples": len(data.train), "held_in": type(data.train).__name__,
            "steps_per_second": steps / (stamps[-1] - stamps[warmup - 1]),
            "model": f"default settings: bidirectional {cfg.cell.upper()} of {cfg.units} units, batch {cfg.batch_size}"}


def paired_speed(Pipeline, Config, read, source: str, steps: int, warmup: int, block: int = 10) -> dict:
    """Steps/s of training from the file's table and from the list, in one process and one model,
    ``block`` steps of each in turn over the same batches (so that what the machine does meanwhile
    falls on both alike): each path's steps per second over all its blocks (both trained on the same
    batches, of lengths that differ from block to block: a ratio of sums)."""
    import itertools
    import statistics

    import keras
    import tensorflow as tf

    from nlp_tasks.distribute import LOCAL
    from nlp_tasks.training import make_optimizer

    pipes = {"file": Pipeline(Config()), "list": Pipeline(Config())}
    data = {"file": pipes["file"].read_training_data(source), "list": pipes["list"].read_training_data(read(source))}
    model = pipes["file"].build_training_model(data["file"], LOCAL)
    plans = {kind: pipes[kind].training_plan(data[kind], model) for kind in pipes}
    model.compile(optimizer=make_optimizer(pipes["file"].config), loss=plans["file"].loss,
                  metrics=plans["file"].metrics)
    per_step: dict = {"file": [], "list": []}
    rounds = (warmup + steps) // block
    for r in range(rounds):
        for kind in (("file", "list") if r % 2 else ("list", "file")):  # who goes first alternates
            batches = plans[kind].batches
            first = r * block % max(len(batches) - block, 1)  # round r's batches of epoch 0 (from the start again
            dataset = tf.data.Dataset.from_generator(  # on a corpus of fewer batches)
                lambda b=batches, k=first: itertools.islice(b.for_epoch(0), k, k + block),
                output_signature=batches.signature)
            stamps = []
            callback = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: stamps.append(
                time.perf_counter()))
            model.fit(dataset, epochs=1, verbose=0, callbacks=[callback])
            if r * block >= warmup:
                per_step[kind].append((stamps[-1] - stamps[0]) / (len(stamps) - 1))
    seconds = {kind: statistics.fmean(values) for kind, values in per_step.items()}  # the same batches: a ratio of sums
    return {"file_steps_per_second": 1 / seconds["file"], "list_steps_per_second": 1 / seconds["list"],
            "blocks": len(per_step["file"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["ner", "sentiment"], choices=sorted(DATA_SETS))
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="examples")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--list-limit", type=int, default=1_000_000, help="most examples trained on as a list")
    parser.add_argument("--evaluate-limit", type=int, default=100_000, help="most examples evaluated (NER tags "
                        "about 500 sentences/s here: 1M would take half an hour)")
    parser.add_argument("--child", nargs=3, metavar=("TASK", "KIND", "SOURCE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.steps, args.warmup)))
        return
    results = {}
    with tempfile.TemporaryDirectory(prefix="nlp-tasks-scale-") as folder:
        for task in args.tasks:
            rows = []
            for size in args.sizes:
                path = make_file(task, Path(folder) / f"{task}-{size}.txt", size)
                row = {"examples": size, "file_mb": round(path.stat().st_size / 1e6, 1)}
                for kind in ("file", "list"):
                    if kind == "list" and size > args.list_limit:
                        continue
                    found = run_child(task, kind, path)
                    row["model"] = found["model"]
                    row[kind] = {"read_seconds": round(found["read_seconds"], 2), "peak_mb": found["peak_mb"],
                                 "end_anon_mb": round(found["rss_anon_mb"]), "end_file_mb": round(found["rss_file_mb"]),
                                 "steps_per_second": round(found["steps_per_second"], 3), "held_in": found["held_in"]}
                if size <= args.list_limit:  # steps/s of both, in turn in one process
                    paired = run_child(task, "paired", path, steps=args.steps, warmup=args.warmup)
                    row["paired"] = {"file_steps_per_second": round(paired["file_steps_per_second"], 3),
                                     "list_steps_per_second": round(paired["list_steps_per_second"], 3),
                                     "peak_mb": paired["peak_mb"]}
                if size <= args.evaluate_limit:
                    evaluated = run_child(task, "evaluate", path)
                    row["evaluate"] = {"seconds": round(evaluated["evaluate_seconds"], 2),
                                       "peak_mb": evaluated["peak_mb"]}
                rows.append(row)
                print(task, json.dumps(row), flush=True)
                path.unlink()
            results[task] = rows
    result = {"date": now(), "machine": machine_info(), "steps": args.steps, "warmup": args.warmup,
              "command": " ".join(["python benchmarks/scale_examples.py", *sys.argv[1:]]), "tasks": results}
    write_json("scale_examples.json", result)
    for task in results:
        write_section(HEADINGS[task], section(result, task))


def speed(row: dict, kind: str):
    """Steps/s of ``kind`` in the paired run, or ``-``."""
    return row["paired"][f"{kind}_steps_per_second"] if "paired" in row else "-"


def at_end(run: dict | None) -> str:
    """``anon + file`` MB resident at the end of a run, or ``-``."""
    return f"{run['end_anon_mb']:,} + {run['end_file_mb']:,}" if run else "-"


def section(r: dict, task: str) -> str:
    model = r["tasks"][task][0]["model"]
    lines = [f"`{r['command']}` on {r['machine']['cpu']} ({r['machine']['cores']} cores), {r['date'][:10]}, commit "
             f"{r['machine'].get('commit')}. The {task} model's {model}; peak resident memory of each process "
             "(ru_maxrss) over reading and 20 training steps. File: "
             f"`{task} train --train FILE` (the file read a block at a time into a memory-mapped Arrow table); "
             "list: the same examples first read into a Python list (what a file was read into before), then "
             "trained on. Read: everything before the model is built (reading, labels, vocabulary, fingerprint). "
             f"Evaluate: `{task} evaluate` of the same file.", "",
             "At the end: resident memory of the process's own (anonymous) pages and of files' pages (the "
             "mapped table among them: the kernel may drop those, they are not the process's to keep).", "",
             "Steps/s: training from the file's table and from the list in one process, one model, "
             f"{PAIRED_BLOCK} steps of each in turn over the same batches ({r['steps']} of each after {r['warmup']}), "
             "steps over the seconds of all blocks (separate "
             "processes differed by up to a fifth from run to run on this machine, both ways).", "",
             "| examples | file MB | read s, file | list | peak MB, file | list | at the end, anon + file MB, file | "
             "list | steps/s, file | list | file / list | evaluate s | evaluate peak MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in r["tasks"][task]:
        f, held = row["file"], row.get("list")
        lines.append(f"| {row['examples']:,} | {row['file_mb']} | {f['read_seconds']} | "
                     f"{held['read_seconds'] if held else '-'} | {f['peak_mb']:,.0f} | "
                     f"{format(held['peak_mb'], ',.0f') if held else '-'} | "
                     f"{at_end(f)} | {at_end(held)} | "
                     f"{speed(row, 'file')} | {speed(row, 'list')} | "
                     f"{round(speed(row, 'file') / speed(row, 'list'), 3) if 'paired' in row else '-'} | "
                     f"{row['evaluate']['seconds'] if 'evaluate' in row else '-'} | "
                     f"{format(row['evaluate']['peak_mb'], ',.0f') if 'evaluate' in row else '-'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
