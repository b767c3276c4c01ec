"""JSB Chorales benchmark: negative log-likelihood per time step on the test split.

    .venv/bin/python benchmarks/music.py                     # default: GRU, 1 x 256
    .venv/bin/python benchmarks/music.py --cell lstm --units 200

Data: ``$NLP_TASKS_DATA/jsb_chorales/jsb-chorales-quarter.json`` (default ``../shared/data``), the
Boulanger-Lewandowski (2012) split, one frame per quarter note: train on ``train``, keep the
epoch with the lowest ``valid`` NLL, evaluate ``test`` once. The NLL is the Bernoulli NLL summed
over the 88 keys, averaged over every time step of every test piece (as the literature reports
it). Writes ``benchmarks/results/music.json`` and the ``jsb_chorales`` section of
``benchmarks/RESULTS.md``, with training time and generation speed (time steps per second with
the compiled one-step function).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import add_settings, config_from_args, machine_info, now, write_json, write_section  # noqa: E402
from nlp_tasks.paths import data_dir  # noqa: E402
from tasks.music import MusicConfig, MusicPipeline  # noqa: E402

FLOOR, GOAL = 8.7, 8.0
PUBLISHED = "tanh RNN 8.91, GRU 8.43, LSTM 8.45 (Chung et al. 2014); TCN 8.10 (Bai et al. 2018)"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_settings(parser, MusicConfig)
    args = parser.parse_args(argv)
    config = config_from_args(MusicConfig, args)
    data = data_dir() / "jsb_chorales" / "jsb-chorales-quarter.json"
    pipe = MusicPipeline(config)
    summary = pipe.fit(data, f"{data}:valid", verbose=2)
    test = pipe.evaluate(data, split="test")
    valid = pipe.evaluate(f"{data}:valid")
    pipe.generate(steps=8, seed=0)  # trace once
    start = time.perf_counter()
    pipe.generate(steps=400, seed=0)
    steps_per_second = 400 / (time.perf_counter() - start)
    command = "python benchmarks/music.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    machine = machine_info()
    result = {"date": now(), "command": command.strip(), "machine": machine, "config": dataclasses.asdict(config),
              "test": test, "valid": valid, "best_epoch": summary.get("best_epoch"), "epochs_run": summary["epochs_run"],
              "train_seconds": summary["train_seconds"], "generation_steps_per_second": steps_per_second,
              "history": summary["history"]}
    write_json("music.json", result)
    cfg = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(config).items())
    body = f"""`jsb_chorales/jsb-chorales-quarter.json` (229 / 76 / 77 pieces, one frame per quarter note): train on
train, keep the epoch with the lowest valid NLL, evaluate test once. NLL per time step = Bernoulli NLL
summed over the 88 keys, averaged over all {test['steps']:,} test time steps. Frame accuracy and note
P/R predict a key when its probability given the true past is above 0.5.
Measured {now()} on {machine['cpu']} ({machine['cores']} cores, CPU only, 1-min load average at the end
{machine['load_average_1min']}), TensorFlow {machine.get('tensorflow')}, commit {machine.get('commit')}. Command:

    {command.strip()}

Config: {cfg}.

| test NLL / step | valid NLL / step | frame accuracy | note precision / recall | best epoch | train minutes | generation steps/s | floor / goal | published |
|---|---|---|---|---|---|---|---|---|
| {test['nll_per_step']:.3f} | {valid['nll_per_step']:.3f} | {test['frame_accuracy']:.3f} | {test['precision']:.3f} / {test['recall']:.3f} | {summary.get('best_epoch')}/{summary['epochs_run']} | {summary['train_seconds'] / 60:.1f} | {steps_per_second:.0f} | {FLOOR} / {GOAL} | {PUBLISHED} |"""
    write_section("jsb_chorales", body)
    print(f"test NLL {test['nll_per_step']:.3f} per step (valid {valid['nll_per_step']:.3f}), "
          f"best epoch {summary.get('best_epoch')}, {summary['train_seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
