"""JSB Chorales benchmark: negative log-likelihood per time step on the test split.

    .venv/bin/python benchmarks/music.py                     # default: GRU, 1 x 256, sigmoid head
    .venv/bin/python benchmarks/music.py --head nade         # RNN-NADE head (150 hidden units)
    .venv/bin/python benchmarks/music.py --cell lstm --units 200
    .venv/bin/python benchmarks/music.py --head nade --save models/jsb-nade
    .venv/bin/python benchmarks/music.py --model models/jsb-nade   # generation speed only, on that model

Data: ``$NLP_TASKS_DATA/jsb_chorales/jsb-chorales-quarter.json`` (default ``../shared/data``), the
Boulanger-Lewandowski (2012) split, one frame per quarter note: train on ``train``, keep the
epoch with the lowest ``valid`` NLL, evaluate ``test`` once. The NLL is the Bernoulli NLL summed
over the 88 keys, averaged over every time step of every test piece (as the literature reports
it). Writes ``benchmarks/results/music.json`` (``music-nade.json`` for ``--head nade``) and the
``jsb_chorales`` section of ``benchmarks/RESULTS.md``, one row per head, with training time and
generation speed (time steps per second of one stream). ``--model`` measures generation alone
on a saved model: the loop in one graph against the previous step-by-step sampler, 1 and 32
streams, and the step's arithmetic limit (``music-generation-<head>.json``, a table in the section).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

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
from tasks.music import MusicConfig, MusicPipeline  # noqa: E402

FLOORS = {"sigmoid": (8.7, 8.0), "nade": (7.0, 5.6)}  # floor / goal of each head, test NLL per time step
PUBLISHED = {
    "sigmoid": "tanh RNN 8.91, GRU 8.43, LSTM 8.45 (Chung et al. 2014); TCN 8.10 (Bai et al. 2018)",
    "nade": "RNN-NADE 5.56 (SGD) and 5.19 (Hessian-free), RNN-RBM 6.27, NADE alone 7.19 (Boulanger-Lewandowski "
            "et al. 2012, Table 1, as quoted by Huang et al. 2017 and Krishnan et al. 2017)",
}


SAMPLES, SAMPLE_STEPS = 20, 64


JSB = "jsb_chorales"


def result_file(head: str, dataset: str = JSB) -> str:
    if dataset == JSB:
        return "music.json" if head == "sigmoid" else f"music-{head}.json"
    return f"music-{dataset}-{head}.json"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_settings(parser, MusicConfig)
    parser.add_argument("--save", default=None, help="Also save the trained model to this folder.")
    parser.add_argument("--data", default=None, help="A piano-roll JSON file of JSB's layout (train / valid / "
                        "test) instead of JSB Chorales, e.g. from benchmarks/music_corpus.py; its own section.")
    parser.add_argument("--model", default=None, help="Measure generation speed only, on this saved model "
                        "(trained by this script with --save).")
    args = parser.parse_args(argv)
    command = "python benchmarks/music.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    if args.model:
        pipe = MusicPipeline.load(args.model)
        write_json(f"music-generation-{pipe.config.head}.json", {
            "date": now(), "command": command.strip(), "machine": machine_info(), "model": args.model,
            "head": pipe.config.head, "model_config": dataclasses.asdict(pipe.config),
            "model_metrics": {"training": {k: v for k, v in pipe.metrics.get("training", {}).items()
                                           if k != "openings"}},  # the opening table is the model's, not the run's
            "generation": generation_speed(pipe)})
        write_section(JSB, section(_test_steps()))
        return
    config = config_from_args(MusicConfig, args)
    data = Path(args.data) if args.data else data_dir() / "jsb_chorales" / "jsb-chorales-quarter.json"
    dataset = JSB if not args.data else data.stem
    pipe = MusicPipeline(config)
    summary = pipe.fit(data, f"{data}:valid", verbose=2)
    test = pipe.evaluate(data, split="test")
    valid = pipe.evaluate(f"{data}:valid")
    pipe.generate(steps=8, seed=0)  # trace once
    start = time.perf_counter()
    pipe.generate(steps=400, seed=0)
    steps_per_second = 400 / (time.perf_counter() - start)
    samples = sample_statistics(pipe, data)
    if args.save:
        pipe.metrics["test"] = test
        pipe.save(args.save)
    result = {"date": now(), "command": command.strip(), "machine": machine_info(),
              "config": dataclasses.asdict(config),
              "test": test, "valid": valid, "best_epoch": summary.get("best_epoch"),
              "epochs_run": summary["epochs_run"],
              "train_seconds": summary["train_seconds"], "generation_steps_per_second": steps_per_second,
              "samples": samples, "data": str(data), "history": summary["history"]}
    write_json(result_file(config.head, dataset), result)
    write_section(JSB if dataset == JSB else f"music: {dataset}", section(test["steps"], dataset))
    print(f"test NLL {test['nll_per_step']:.3f} per step (valid {valid['nll_per_step']:.3f}), "
          f"best epoch {summary.get('best_epoch')}, {summary['train_seconds'] / 60:.1f} min")


def sample_statistics(pipe, data: Path, pieces: int = SAMPLES, steps: int = SAMPLE_STEPS) -> dict:
    """What generated music looks like next to the data: ``pieces`` pieces of ``steps`` steps from
    silence (temperature 1, seed 0) against every frame of the test pieces: notes per step and the
    share of steps with exactly four notes (a four-part chorale's usual texture)."""
    import numpy as np

    from tasks.music import data as md

    test = np.concatenate(md.read_pianoroll_json(data, "test")).sum(axis=1)
    rolls = pipe.generate(steps=steps, seed=0, n=pieces)["roll"]
    drawn = np.concatenate([np.asarray(roll)[1:] for roll in rolls]).sum(axis=1)  # step 1: a recorded opening
    return {"pieces": pieces, "steps": steps, "notes_per_step": float(drawn.mean()),
            "four_note_share": float(np.mean(drawn == 4)), "test_notes_per_step": float(test.mean()),
            "test_four_note_share": float(np.mean(test == 4))}


def generation_speed(pipe, steps: int = 400, streams: int = 32) -> dict:
    """Time steps per second: the loop in one graph vs the compiled step driven from Python with
    a NumPy draw (the previous sampler), 1 stream and ``streams``, median of 3 runs each, from
    silence at temperature 1; and the step's arithmetic limit."""
    import numpy as np

    from tasks.music import generate_frames

    silence = np.zeros((0, 88), np.float32)

    def run(n, in_graph):
        return lambda: generate_frames(pipe, n, steps, silence, 1, 1.0, in_graph=in_graph)

    start = time.perf_counter()
    run(1, True)()
    compile_seconds = time.perf_counter() - start
    for n in (1, streams):
        run(n, True)(), run(n, False)()
    figures = {"steps": steps, "streams": streams, "graph_compile_seconds": compile_seconds,
               "graph_single": steps / median_time(run(1, True)), "stepper_single": steps / median_time(run(1, False)),
               "graph_batched": streams * steps / median_time(run(streams, True)),
               "stepper_batched": streams * steps / median_time(run(streams, False))}
    cells = [pipe.model.get_layer(f"rnn_{i}").cell for i in range(1, pipe.config.layers + 1)]
    output_units = 88 if pipe.config.head == "sigmoid" else 88 + pipe.config.nade_units
    figures["arithmetic"] = step_arithmetic(cells, output_units, 88)
    if pipe.config.head == "nade":  # the NADE draws its 88 keys one by one: 2 * 2 * 88 * units more per step
        figures["arithmetic"]["nade_draw_flops"] = 4 * 88 * pipe.config.nade_units
    return figures


def _test_steps() -> int:
    for head in FLOORS:
        path = RESULTS_DIR / result_file(head)
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))["test"]["steps"]
    raise SystemExit("no JSB result to add the generation figures to: run benchmarks/music.py first")


def _model_description(record: dict) -> str:
    """The measured model in words: its shape (what the speed depends on) and its validation NLL."""
    c = record.get("model_config")
    if not c:
        return "model config not recorded"
    shape = f"{c['layers']} x {c['units']} {c['cell']}" + (
        f", NADE {c['nade_units']} units" if c["head"] == "nade" else "")
    epochs = (record.get("model_metrics") or {}).get("training", {}).get("epochs_run")
    return f"model {shape}" + (f", trained {epochs} epochs" if epochs is not None else "")


def generation_table() -> str:
    """The generation-speed table of the saved models measured with ``--model``, if any."""
    rows, runs = [], []
    for head in FLOORS:
        path = RESULTS_DIR / f"music-generation-{head}.json"
        if not path.is_file():
            continue
        r = json.loads(path.read_text(encoding="utf-8"))
        g, a, m = r["generation"], r["generation"]["arithmetic"], r["machine"]
        rows.append(f"| {head} | {g['graph_single']:.0f} | {g['stepper_single']:.0f} | "
                    f"**{g['graph_single'] / g['stepper_single']:.1f}x** | {g['graph_batched']:.0f} | "
                    f"{g['stepper_batched']:.0f} | **{g['graph_batched'] / g['stepper_batched']:.1f}x** | "
                    f"{g['graph_compile_seconds']:.1f} | {a['products_only_steps_per_s']:.0f} |")
        runs.append(f"- **{head}**: `{r['command']}`, {r['date']}, {m['cpu']} ({m['cores']} cores), commit "
                    f"{m.get('commit')}, 1-min load average at the end {m['load_average_1min']}; "
                    f"{_model_description(r)}.")
    if not rows:
        return ""
    return f"""

Generation speed (time steps per second, {g['steps']} steps per stream from silence, temperature 1,
median of 3 runs; in-graph = the whole loop in one XLA-compiled graph, `pipe.generate`; previous =
the compiled one-step function driven from Python with a NumPy draw; one process, one model):

| head | in-graph, 1 stream | previous, 1 stream | ratio | in-graph, {g['streams']} streams \
| previous, {g['streams']} streams | ratio | first call (compiles), s | products alone, steps/s |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

"Products alone" is the arithmetic reference for one stream: the step's matrix-vector products and
nothing else (batch 1, chained, in one compiled loop, `benchmarks/common.py: step_arithmetic`); the
NADE's key-by-key draw (88 dependent small steps) is not in it.

{chr(10).join(runs)}"""


def section(test_steps: int, dataset: str = JSB) -> str:
    """The RESULTS.md section of a data set: one row per head that has a result file, each with its run."""
    rows, runs, reference = [], [], "not measured"
    for head in FLOORS:
        path = RESULTS_DIR / result_file(head, dataset)
        if not path.is_file():
            continue
        r = json.loads(path.read_text(encoding="utf-8"))
        test, valid, machine = r["test"], r["valid"], r["machine"]
        floor, goal = FLOORS[head] if dataset == JSB else ("-", "-")
        stats = r.get("samples")
        samples = (f"{stats['notes_per_step']:.2f} / {stats['four_note_share']:.2f}" if stats else "not measured")
        if stats:
            reference = (f"the test pieces have {stats['test_notes_per_step']:.2f} notes per step and "
                         f"{stats['test_four_note_share']:.2f} of their steps have four")
        rows.append(f"| {head} | {test['nll_per_step']:.3f} | {valid['nll_per_step']:.3f} | "
                    f"{test['frame_accuracy']:.3f} | "
                    f"{test['precision']:.3f} / {test['recall']:.3f} | {r['best_epoch']}/{r['epochs_run']} | "
                    f"{r['train_seconds'] / 60:.1f} | {r['generation_steps_per_second']:.0f} | {samples} | "
                    f"{floor} / {goal} | "
                    f"{PUBLISHED[head] if dataset == JSB else 'none for this data set'} |")
        cfg = ", ".join(f"{k}={v}" for k, v in r["config"].items())
        runs.append(f"- **{head}**: measured {r['date']} on {machine['cpu']} ({machine['cores']} cores, CPU only, "
                    f"1-min load average at the end {machine['load_average_1min']}), TensorFlow "
                    f"{machine.get('tensorflow')}, commit {machine.get('commit')}: `{r['command']}`. Config: {cfg}.")
    if dataset == JSB:
        data = "`jsb_chorales/jsb-chorales-quarter.json` (229 / 76 / 77 pieces, one frame per quarter note)"
    else:
        data = (f"`{dataset}.json`, a second data set in JSB's layout (how it was made: benchmarks/NOTES.md, "
                "\"Music: the NADE head\")")
    return f"""{data}: train on train, keep the epoch with the lowest valid NLL, evaluate test once. \
NLL per time step = the frame's
negative log-likelihood (sigmoid head: Bernoulli NLL summed over the 88 keys; NADE head: the sum of
its 88 conditionals, also exact), averaged over all {test_steps:,} test time steps. Frame accuracy and
note P/R predict a key when its probability given the true past is above 0.5 (NADE: key by key,
given the keys predicted below it). Train minutes include the validation pass of every epoch.
Samples: {SAMPLES} pieces of {SAMPLE_STEPS} steps generated from silence (temperature 1, seed 0), their
first step (a recorded opening) left out; for comparison, {reference}.

| head | test NLL / step | valid NLL / step | frame accuracy | note precision / recall | best epoch | train minutes \
| generation steps/s | samples: notes per step / share of 4-note steps | floor / goal | published |
|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

{chr(10).join(runs)}

The published figures are other papers' own runs (the RNN-NADE paper itself was not at hand: its
figures are quoted from the two papers named, and the SGD / Hessian-free reading of its two RNN-NADE
rows is ours); each row above is one run of the command beside it.{generation_table() if dataset == JSB else ""}"""


if __name__ == "__main__":
    main()
