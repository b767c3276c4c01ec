"""Data bigger than memory (issue 34): the language model prepared into a memory-mapped token store
(``charlm prepare``) against reading the text in memory, on corpora of 10 MB, 100 MB and 1 GB.

The corpora are made here by repeating tiny-shakespeare (``$NLP_TASKS_DATA`` or ../shared/data):
content that repeats changes nothing about memory or speed. For each size, in
processes of their own (peak resident memory is each process's ``ru_maxrss``):

- ``prepare``: seconds, MB of text per second, peak memory;
- ``train`` from the store and, where it fits (``--memory-path-limit``, default 100 MB: the
  in-memory path took about 12 bytes per character more than the store in the recorded run),
  from the text: peak memory, and training steps per second over ``--steps`` steps after ``--warmup``
  (the default model: 2 x 512 GRU, batch 64, window 100), everything a run does before its
  first step included in the memory.

    python benchmarks/scale.py                       # 10 MB, 100 MB, 1 GB (about half an hour)
    python benchmarks/scale.py --sizes 10 --steps 5  # a quick look

Writes ``benchmarks/results/scale.json`` and its section of RESULTS.md (:data:`HEADING`).
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

MB = 1_000_000
HEADING = "Data bigger than memory: tinyshakespeare repeated to 10 MB, 100 MB and 1 GB"


def make_corpus(path: Path, size_mb: int) -> Path:
    """A text file of ``size_mb`` MB: a base text repeated, written in blocks."""
    from nlp_tasks.io.paths import data_dir

    base = (data_dir() / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    block = (base * (1 + 4 * MB // len(base)))[:4 * MB]
    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(size_mb * MB // len(block)):
            handle.write(block)
        handle.write(block[:size_mb * MB % len(block)])
    return path


def run_child(*args) -> dict:
    """``scale.py --child ARGS`` in a process of its own: its JSON answer and its peak memory."""
    return measured_child(__file__, *args)


def child(kind: str, source: str, out: str, steps: int, warmup: int) -> dict:
    if kind == "prepare":
        from tasks.charlm import LanguageModelConfig
        from tasks.charlm.prepared import prepare

        start = time.perf_counter()
        summary = prepare(source, out, LanguageModelConfig(), stream=sys.stderr)
        return {**summary, "seconds": time.perf_counter() - start}  # every pass, not only the writing
    import keras

    from nlp_tasks.distribute import LOCAL
    from nlp_tasks.training import make_optimizer
    from tasks.charlm import LanguageModelConfig, LanguageModelPipeline

    pipe = LanguageModelPipeline(LanguageModelConfig())
    start = time.perf_counter()
    data = pipe.read_training_data(source)
    read = time.perf_counter() - start
    model = pipe.build_training_model(data, LOCAL)
    plan = pipe.training_plan(data, model)
    model.compile(optimizer=make_optimizer(pipe.config), loss=plan.loss)
    stamps = []
    callback = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: stamps.append(time.perf_counter()))
    model.fit(plan.batches.take(warmup + steps), epochs=1, verbose=0, callbacks=[callback])
    return {"read_seconds": read, "train_tokens": int(len(data.train)),
            "steps_per_second": steps / (stamps[-1] - stamps[warmup - 1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000], help="corpus sizes in MB")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--memory-path-limit", type=int, default=100, help="largest corpus (MB) read in memory")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "SOURCE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.steps, args.warmup)))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="nlp-tasks-scale-") as folder:
        for size in args.sizes:
            corpus = make_corpus(Path(folder) / f"corpus-{size}.txt", size)
            store = Path(folder) / f"store-{size}"
            prepared = run_child("prepare", corpus, store)
            row = {"size_mb": size, "prepare_seconds": round(prepared["seconds"], 2),
                   "prepare_mb_per_second": round(size / prepared["seconds"], 1),
                   "prepare_peak_mb": prepared["peak_mb"], "dtype": prepared["dtype"]}
            in_memory = run_child("train", corpus, "-") if size <= args.memory_path_limit else None
            from_store = run_child("train", store, "-")
            row.update(store_peak_mb=from_store["peak_mb"],
                       store_steps_per_second=round(from_store["steps_per_second"], 3))
            if in_memory is not None:
                row.update(memory_peak_mb=in_memory["peak_mb"],
                           memory_steps_per_second=round(in_memory["steps_per_second"], 3),
                           speed_ratio=round(from_store["steps_per_second"] / in_memory["steps_per_second"], 3))
            rows.append(row)
            print(json.dumps(row), flush=True)
            corpus.unlink()
    result = {"date": now(), "machine": machine_info(), "steps": args.steps, "warmup": args.warmup,
              "command": " ".join(["python benchmarks/scale.py", *sys.argv[1:]]), "rows": rows}
    write_json("scale.json", result)
    write_section(HEADING, section(result))


def section(r: dict) -> str:
    lines = [f"`{r['command']}` on {r['machine']['cpu']} ({r['machine']['cores']} cores), {r['date'][:10]}, commit "
             f"{r['machine'].get('commit')}. Language model, default settings (2 x 512 GRU, batch 64, window 100); "
             f"steps/s over {r['steps']} steps after {r['warmup']}; peak resident memory of each process "
             "(ru_maxrss), everything before the first step included. In memory: the text read and encoded as "
             "today's `charlm train --train FILE` does; store: `charlm prepare` then `--train STORE`.", "",
             "| corpus | prepare s | prepare MB/s | prepare peak MB | ids | train peak MB, store | in memory | "
             "steps/s, store | in memory | store / in memory |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        lines.append(f"| {row['size_mb']:,} MB | {row['prepare_seconds']} | {row['prepare_mb_per_second']} | "
                     f"{row['prepare_peak_mb']:,.0f} | {row['dtype']} | {row['store_peak_mb']:,.0f} | "
                     f"{format(row['memory_peak_mb'], ',.0f') if 'memory_peak_mb' in row else '-'} | "
                     f"{row['store_steps_per_second']} | {row.get('memory_steps_per_second', '-')} | "
                     f"{row.get('speed_ratio', '-')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
