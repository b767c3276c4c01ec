"""tiny-shakespeare benchmark: character language model, validation loss in nats and bits per character.

    .venv/bin/python benchmarks/charlm.py                       # default: 2 x 512 GRU
    .venv/bin/python benchmarks/charlm.py --units 256 --epochs 3 # a quick look
    .venv/bin/python benchmarks/charlm.py --save models/shakespeare  # keep the model ...
    .venv/bin/python benchmarks/charlm.py --model models/shakespeare # ... and re-measure sampling only

Data: ``$NLP_TASKS_DATA/tinyshakespeare/input.txt`` (default ``../shared/data``), the standard split
(first 90% of the characters train, last 10% validation), as nanoGPT and char-rnn use it.
Writes ``benchmarks/results/charlm.json`` and the ``tinyshakespeare`` section of
``benchmarks/RESULTS.md``: the best validation loss (every validation character scored once,
each row of the stateful evaluation starting from a<0> = 0), training time on this machine,
and sampling throughput: the compiled one-step sampler (one stream and a batch of streams)
against the naive loop that calls ``model.predict`` on the whole prefix for every character,
measured in the same run on the same model.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    RESULTS_DIR,
    add_settings,
    config_from_args,
    machine_info,
    now,
    write_json,
    write_section,
)
from nlp_tasks.paths import data_dir  # noqa: E402
from tasks.charlm import LanguageModelConfig, LanguageModelPipeline  # noqa: E402
from tasks.charlm_sampling import compile_step  # noqa: E402

FLOOR, GOAL, NANOGPT = 1.60, 1.47, 1.4697


def sampling_speed(lm: LanguageModelPipeline, length: int = 500, streams: int = 32, naive_length: int = 60) -> dict:
    """Characters per second: compiled step (1 stream, ``streams`` streams) vs naive predict loop."""
    lm.sample("ROMEO:", length=20, seed=0)  # trace the step function once
    lm.sample_many(streams, "ROMEO:", length=5, seed=0)
    start = time.perf_counter()
    lm.sample("ROMEO:", length=length, seed=1)
    single = length / (time.perf_counter() - start)
    compiled = lm.step_function()
    # The same step without XLA, for the ratio.
    lm._step = compile_step(lm.model, lm.vocab_name, lm.config.layers, jit_compile=False)
    lm.sample("ROMEO:", length=20, seed=0)
    start = time.perf_counter()
    lm.sample("ROMEO:", length=length, seed=1)
    single_no_xla = length / (time.perf_counter() - start)
    lm._step = compiled
    start = time.perf_counter()
    lm.sample_many(streams, "ROMEO:", length=length, seed=1)
    batched = streams * length / (time.perf_counter() - start)
    # The naive loop: re-run the whole prefix through model.predict for every new character.
    vocab, rng = lm.vocab, np.random.default_rng(1)
    ids = [2] + vocab.encode("ROMEO:")
    start = time.perf_counter()
    for _ in range(naive_length):
        logits = lm.model.predict(np.array([ids], dtype=np.int32), verbose=0)[0, -1]
        p = np.exp(logits - logits.max())
        p[[0, 2]] = 0
        ids.append(int(rng.choice(len(p), p=p / p.sum())))
    naive = naive_length / (time.perf_counter() - start)
    return {"single_stream_chars_per_s": single, "single_stream_without_xla_chars_per_s": single_no_xla,
            "batched_chars_per_s": batched, "streams": streams,
            "naive_predict_chars_per_s": naive, "naive_chars": naive_length,
            "single_vs_naive": single / naive, "batched_vs_naive": batched / naive}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_settings(parser, LanguageModelConfig)
    parser.add_argument("--save", default=None, help="also save the trained model to this folder")
    parser.add_argument("--model", default=None,
                        help="measure sampling speed only, on this saved model (trained by this script with --save)")
    args = parser.parse_args(argv)
    command = "python benchmarks/charlm.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    if args.model:
        lm = LanguageModelPipeline.load(args.model)
        write_json("charlm-sampling.json", {"date": now(), "command": command.strip(), "machine": machine_info(),
                                            "model": args.model, "sampling": sampling_speed(lm),
                                            "sample": lm.sample("ROMEO:", length=300, temperature=0.8, seed=0)})
        write_results()
        return
    config = config_from_args(LanguageModelConfig, args)
    text_file = data_dir() / "tinyshakespeare" / "input.txt"
    lm = LanguageModelPipeline(config)
    summary = lm.fit(text_file, verbose=2)
    if args.save:
        lm.save(args.save)
    speed = sampling_speed(lm)
    sample = lm.sample("ROMEO:", length=300, temperature=0.8, seed=0)
    params = int(sum(np.prod(w.shape) for w in lm.model.trainable_weights))
    best = summary["best"]
    result = {"date": now(), "command": command.strip(), "machine": machine_info(), "config": dataclasses.asdict(config),
              "parameters": params, "best_val_nats_per_char": best, "best_val_bits_per_char": best / math.log(2),
              "best_epoch": summary["best_epoch"], "epochs_run": summary["epochs_run"],
              "train_seconds": summary["train_seconds"], "train_chars": summary["train_tokens"],
              "sampling": speed, "sample": sample, "history": summary["history"]}
    write_json("charlm.json", result)
    RESULTS_DIR.joinpath("charlm-sampling.json").unlink(missing_ok=True)  # superseded by this run's own
    write_results()
    print(f"best validation {best:.4f} nats/char ({best / math.log(2):.4f} bits) at epoch {summary['best_epoch']}")


def _without_xla(speed: dict) -> str:
    value = speed.get("single_stream_without_xla_chars_per_s")  # not measured by older runs
    return "-" if value is None else f"{value:.0f}"


def write_results() -> None:
    """The tinyshakespeare section: the training run, and the latest sampling measurement."""
    r = json.loads((RESULTS_DIR / "charlm.json").read_text(encoding="utf-8"))
    speed_record = RESULTS_DIR / "charlm-sampling.json"
    s = json.loads(speed_record.read_text(encoding="utf-8")) if speed_record.is_file() else r
    machine, speed, best = r["machine"], s["sampling"], r["best_val_nats_per_char"]
    cfg = ", ".join(f"{k}={v}" for k, v in r["config"].items() if k not in ("text_column", "max_vocab", "min_freq", "lower"))
    where = "the training run above" if s is r else (
        f"`{s['command']}` on the model that run saved, {s['date']}, commit {s['machine'].get('commit')}, "
        f"1-min load average {s['machine']['load_average_1min']}")
    body = f"""Character language model on `tinyshakespeare/input.txt`: first 90% of the characters train, last 10%
validation; the best epoch by validation loss is kept. Every validation character is scored once.
Measured {r['date']} on {machine['cpu']} ({machine['cores']} cores, CPU only, 1-min load average at the end
{machine['load_average_1min']}), TensorFlow {machine.get('tensorflow')}, commit {machine.get('commit')}. Command:

    {r['command']}

Config: {cfg}; {r['parameters']:,} parameters.

| validation nats/char | bits/char | best epoch | train minutes | floor / goal (nats) | nanoGPT char transformer, GPU |
|---|---|---|---|---|---|
| {best:.4f} | {best / math.log(2):.4f} | {r['best_epoch']}/{r['epochs_run']} | {r['train_seconds'] / 60:.1f} | {FLOOR} / {GOAL} | {NANOGPT} |

Sampling throughput, measured by {where} (characters per second, same model, same process):

| compiled step (XLA), 1 stream | same step without XLA, 1 stream | compiled step (XLA), {speed['streams']} streams | naive `model.predict` on the prefix per char | speed-up 1 stream / batched |
|---|---|---|---|---|
| {speed['single_stream_chars_per_s']:.0f} | {_without_xla(speed)} | {speed['batched_chars_per_s']:.0f} | {speed['naive_predict_chars_per_s']:.1f} | {speed['single_vs_naive']:.0f}x / {speed['batched_vs_naive']:.0f}x |

A sample (`--prime "ROMEO:" --temperature 0.8 --seed 0`, 300 characters):

```
{s['sample']}
```"""
    write_section("tinyshakespeare", body)


if __name__ == "__main__":
    main()
