"""tiny-shakespeare benchmark: character language model, validation loss in nats and bits per character.

    .venv/bin/python benchmarks/charlm.py                       # default: 2 x 512 GRU
    .venv/bin/python benchmarks/charlm.py --epochs 3 --activation-reg 2 --no-write  # a screening, not recorded
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
    median_time,
    now,
    step_arithmetic,
    write_json,
    write_section,
)
from nlp_tasks.io.paths import data_dir  # noqa: E402
from tasks.charlm import LanguageModelConfig, LanguageModelPipeline  # noqa: E402

FLOOR, GOAL, NANOGPT = 1.60, 1.47, 1.4697


def sampling_speed(lm: LanguageModelPipeline, length: int = 500, streams: int = 32, naive_length: int = 60) -> dict:
    """Characters per second, in one process on one model: the whole sampling loop in one graph
    (today's sampler), the compiled one-step function driven from Python with a NumPy draw (the
    previous sampler; with and without XLA), and the naive loop that calls ``model.predict`` on
    the whole prefix per character; 1 stream and ``streams`` streams; median of 3 runs each.
    Also the arithmetic limit of one step (:func:`benchmarks.common.step_arithmetic`)."""
    from nlp_tasks.config import SampleSettings
    from tasks.charlm.sampling import generate

    def run(n, in_graph):
        return lambda: generate(lm, "ROMEO:", SampleSettings(length=length, seed=1, samples=n), in_graph=in_graph)

    start = time.perf_counter()
    run(1, True)()  # compiles the loop for this length's bucket
    compile_seconds = time.perf_counter() - start
    for n in (1, streams):
        run(n, True)(), run(n, False)()  # trace / compile once
    graph_1 = length / median_time(run(1, True))
    stepper_1 = length / median_time(run(1, False))
    graph_n = streams * length / median_time(run(streams, True))
    stepper_n = streams * length / median_time(run(streams, False))
    no_xla = lambda: generate(lm, "ROMEO:", SampleSettings(length=length, seed=1), in_graph=False,  # noqa: E731
                              jit_compile=False)  # the same step without XLA
    no_xla()
    stepper_no_xla = length / median_time(no_xla)
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
    cells = [lm.model.get_layer(f"rnn_{i}").cell for i in range(1, lm.config.layers + 1)]
    arithmetic = step_arithmetic(cells, len(lm.vocab), lm.config.embedding_dim or len(lm.vocab))
    return {"length": length, "streams": streams, "graph_compile_seconds": compile_seconds,
            "single_stream_chars_per_s": graph_1, "batched_chars_per_s": graph_n,
            "stepper_single_stream_chars_per_s": stepper_1, "stepper_batched_chars_per_s": stepper_n,
            "single_stream_without_xla_chars_per_s": stepper_no_xla,
            "naive_predict_chars_per_s": naive, "naive_chars": naive_length,
            "single_vs_stepper": graph_1 / stepper_1, "batched_vs_stepper": graph_n / stepper_n,
            "single_vs_naive": graph_1 / naive, "batched_vs_naive": graph_n / naive, "arithmetic": arithmetic}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_settings(parser, LanguageModelConfig)
    parser.add_argument("--save", default=None, help="also save the trained model to this folder")
    parser.add_argument("--model", default=None,
                        help="measure sampling speed only, on this saved model (trained by this script with --save)")
    parser.add_argument("--no-write", action="store_true",
                        help="train and print the validation figures only: leave RESULTS.md and benchmarks/results/ "
                             "alone (screening runs of another recipe)")
    args = parser.parse_args(argv)
    command = "python benchmarks/charlm.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    if args.model:
        lm = LanguageModelPipeline.load(args.model)
        write_json("charlm-sampling.json", {"date": now(), "command": command.strip(), "machine": machine_info(),
                                            "model": args.model, "model_config": dataclasses.asdict(lm.config),
                                            "model_metrics": lm.metrics, "sampling": sampling_speed(lm),
                                            "sample": lm.generate("ROMEO:", length=300, temperature=0.8, seed=0)})
        write_results()
        return
    config = config_from_args(LanguageModelConfig, args)
    text_file = data_dir() / "tinyshakespeare" / "input.txt"
    lm = LanguageModelPipeline(config)
    summary = lm.fit(text_file, verbose=2)
    if args.save:
        lm.save(args.save)
    if args.no_write:
        print("validation nats/char by epoch: " + ", ".join(f"{v:.4f}" for v in summary["history"]["val_nats"]))
        return
    speed = sampling_speed(lm)
    sample = lm.generate("ROMEO:", length=300, temperature=0.8, seed=0)
    params = int(sum(np.prod(w.shape) for w in lm.model.trainable_weights))
    best = summary["best"]
    result = {"date": now(), "command": command.strip(), "machine": machine_info(),
              "config": dataclasses.asdict(config),
              "parameters": params, "best_val_nats_per_char": best, "best_val_bits_per_char": best / math.log(2),
              "best_epoch": summary["best_epoch"], "epochs_run": summary["epochs_run"],
              "train_seconds": summary["train_seconds"], "train_chars": summary["train_tokens"],
              "sampling": speed, "sample": sample, "history": summary["history"]}
    write_json("charlm.json", result)
    RESULTS_DIR.joinpath("charlm-sampling.json").unlink(missing_ok=True)  # superseded by this run's own
    write_results()
    print(f"best validation {best:.4f} nats/char ({best / math.log(2):.4f} bits) at epoch {summary['best_epoch']}")


def _speed_table(speed: dict) -> str:
    if "stepper_single_stream_chars_per_s" not in speed:  # a run from before the in-graph loop
        return (f"""
| compiled step (XLA), 1 stream | compiled step (XLA), {speed['streams']} streams \
| naive `model.predict` on the prefix per char |
|---|---|---|
| {speed['single_stream_chars_per_s']:.0f} | {speed['batched_chars_per_s']:.0f} \
| {speed['naive_predict_chars_per_s']:.1f} |""")
    a = speed["arithmetic"]
    return f"""
| sampler | 1 stream | {speed['streams']} streams |
|---|---|---|
| whole loop in one graph (XLA), `lm.sample` | {speed['single_stream_chars_per_s']:.0f} \
| {speed['batched_chars_per_s']:.0f} |
| compiled step (XLA) + Python loop + NumPy draw (the previous sampler) \
| {speed['stepper_single_stream_chars_per_s']:.0f} | {speed['stepper_batched_chars_per_s']:.0f} |
| the same step without XLA | {speed['single_stream_without_xla_chars_per_s']:.0f} | - |
| naive `model.predict` on the whole prefix per character | {speed['naive_predict_chars_per_s']:.1f} | - |
| **in-graph / previous sampler** | **{speed['single_vs_stepper']:.1f}x** | **{speed['batched_vs_stepper']:.1f}x** |

{speed['length']} characters per stream, median of 3 runs; the first call, which compiles the loop
for this length's bucket (lengths are rounded up to powers of two), took {speed['graph_compile_seconds']:.1f} s.
The arithmetic limit of one step for one stream: {a['flops_per_step'] / 1e6:.2f} MFLOP (the cells' input and
recurrent products and the output layer). The same matrix-vector products alone, batch 1, chained in
one compiled loop, run at {a['batch1_gflops']:.1f} GFLOP/s here: **{a['products_only_steps_per_s']:.0f} steps/s**, the
arithmetic reference for one stream; the in-graph sampler runs at \
{speed['single_stream_chars_per_s'] / a['products_only_steps_per_s']:.0%} of that rate
(the reference is a measurement too, so near 100% the two can cross: the sampler's time goes to the
step's arithmetic, no longer to per-step dispatch). At this
machine's 2048x2048 matmul rate ({a['matmul_peak_gflops']:.0f} GFLOP/s, which batch 1 cannot reach: each weight
is read once per step for one row) it would be {a['peak_limit_steps_per_s']:.0f} steps/s."""


def _model_description(speed_record: dict, run: dict) -> str:
    """The model a ``--model`` measurement ran on, in words: the speed depends on its shape, not
    on how well it was trained, so say both."""
    config, metrics = speed_record.get("model_config"), speed_record.get("model_metrics") or {}
    if not config:
        return "the model that run saved"
    same = all(config.get(k) == run["config"].get(k) for k in ("cell", "units", "layers", "embedding_dim"))
    shape = "a model of the same shape as the run above" if same else (
        f"a {config['layers']} x {config['units']} {config['cell']} model")
    epochs = metrics.get("training", {}).get("epochs_run")
    nats = metrics.get("validation", {}).get("nats_per_token")
    trained = f" trained {epochs} epoch{'s' if epochs != 1 else ''}" if epochs is not None else ""
    return f"{shape}{trained}" + (f" (validation {nats:.3f} nats/char)" if nats is not None else "")


def write_results() -> None:
    """The tinyshakespeare section: the training run, and the latest sampling measurement."""
    r = json.loads((RESULTS_DIR / "charlm.json").read_text(encoding="utf-8"))
    speed_record = RESULTS_DIR / "charlm-sampling.json"
    s = json.loads(speed_record.read_text(encoding="utf-8")) if speed_record.is_file() else r
    machine, speed, best = r["machine"], s["sampling"], r["best_val_nats_per_char"]
    cfg = ", ".join(f"{k}={v}" for k, v in r["config"].items()
                    if k not in ("text_column", "max_vocab", "min_freq", "lower"))
    where = "the training run above" if s is r else (
        f"`{s['command']}` on {_model_description(s, r)}, {s['date']}, commit {s['machine'].get('commit')}, "
        f"1-min load average {s['machine']['load_average_1min']}")
    sample_note = "" if s is r else (
        f" of the training run's model, drawn by the sampler of commit {machine.get('commit')} "
        "(today's in-graph sampler draws other text for the same seed)")
    body = f"""Character language model on `tinyshakespeare/input.txt`: first 90% of the characters train, last 10%
validation; the best epoch by validation loss is kept. Every validation character is scored once.
Measured {r['date']} on {machine['cpu']} ({machine['cores']} cores, CPU only, 1-min load average at the end
{machine['load_average_1min']}), TensorFlow {machine.get('tensorflow')}, commit {machine.get('commit')}. Command:

    {r['command']}

Config: {cfg}; {r['parameters']:,} parameters.

| validation nats/char | bits/char | best epoch | train minutes | floor / goal (nats) | nanoGPT char transformer, GPU |
|---|---|---|---|---|---|
| {best:.4f} | {best / math.log(2):.4f} | {r['best_epoch']}/{r['epochs_run']} | {r['train_seconds'] / 60:.1f} \
| {FLOOR} / {GOAL} | {NANOGPT} |

Sampling throughput, measured by {where} (characters per second, same model, same process):
{_speed_table(speed)}

A sample (`--prime "ROMEO:" --temperature 0.8 --seed 0`, 300 characters){sample_note}:

```
{r['sample']}
```"""
    write_section("tinyshakespeare", body)


if __name__ == "__main__":
    main()
