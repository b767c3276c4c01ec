"""Training-step time of our RNN/GRU/LSTM layers vs Keras' SimpleRNN/GRU/LSTM, on CPU.

Method
------
For each cell kind and each shape ``(batch, T, n_x, units)`` we build two models with the same
shapes: ``nlp_tasks.layers.recurrent(kind, units)`` + ``Dense(1)`` ("ours") and the matching
Keras built-in layer + ``Dense(1)`` ("keras"). Both are trained with the *same* custom train step
(forward, mean-squared loss, ``tf.GradientTape`` backward, ``keras.optimizers.Adam`` update)
compiled with ``tf.function``; random inputs and targets are fixed tensors, so no input
pipeline is timed.

Each contender is warmed up (trace + a few steps). Then the contenders are INTERLEAVED: in each
round we time ``steps`` consecutive training steps of one, then of the other, alternating which
goes first, so machine noise (other processes, turbo, caches) hits both alike. We report the
median ms/step over rounds with min and max, and the ratio ours/keras as the median of the
per-round ratios.

The same run measures the machine's float32 matmul peak (best GFLOP/s of a 2048x2048
``tf.matmul``, before and after the cell timings) and reports each contender's achieved
fraction of it. FLOP convention: forward FLOPs = 2 * batch * T * (n_x + units) * G * units
(G = 1 rnn, 3 gru, 4 lstm: the gate matmuls only; elementwise work is ignored), and a training
step counts as 3 x forward FLOPs (forward + two matmuls per matmul in the backward pass).

Usage: ``python benchmarks/cells.py [--repeats R] [--steps N] [--quick]``. ``--steps`` defaults
to auto (about ``--block-seconds`` per timed block, same N for both contenders);
``--method train_on_batch`` times ``model.train_on_batch`` instead. ``--quick`` (tiny shapes)
writes ``results/cells-quick.json`` and leaves RESULTS.md alone unless ``--results-md`` is given.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from nlp_tasks.layers import recurrent  # noqa: E402

SECTION = "## Cells: training-step time vs Keras built-in layers"
SHAPES = [(64, 100, 128, 256), (32, 50, 64, 128)]  # (batch, T, n_x, units)
QUICK_SHAPES = [(8, 10, 16, 32)]
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
KERAS_LAYERS = {"rnn": keras.layers.SimpleRNN, "gru": keras.layers.GRU, "lstm": keras.layers.LSTM}
KERAS_NAMES = {"rnn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}


def machine_info() -> dict:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    run = lambda *a: subprocess.run(a, cwd=ROOT, capture_output=True, text=True).stdout.strip()
    nproc = run("nproc")
    code = [os.path.join("nlp_tasks", "layers", f) for f in ("cells.py", "recurrent.py")]
    sha = hashlib.sha256(b"".join(open(os.path.join(ROOT, f), "rb").read() for f in code)).hexdigest()
    return {"nproc": int(nproc) if nproc.isdigit() else os.cpu_count(), "cpu": cpu,
            "platform": platform.platform(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__,
            "git_commit": run("git", "rev-parse", "--short", "HEAD"),
            "layers_modified": bool(run("git", "status", "--porcelain", *code)),
            "layers_sha256": sha[:12]}


def matmul_peak_gflops(n: int = 2048, repeats: int = 7) -> float:
    """Best float32 GFLOP/s of an n x n matmul (one matmul per timed call)."""
    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    mm = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    mm(a, b).numpy()  # trace + warm
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        mm(a, b).numpy()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def train_flops(kind: str, batch: int, t: int, n_x: int, units: int) -> float:
    return 3 * 2 * batch * t * (n_x + units) * GATES[kind] * units


def make_contender(layer, shape, method: str, seed: int):
    """Model = layer + Dense(1) and a zero-argument callable that runs one training step."""
    batch, t, n_x, _ = shape
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((t, n_x)), layer, keras.layers.Dense(1)])
    x = tf.random.normal((batch, t, n_x))
    y = tf.random.normal((batch, 1))
    if method == "train_on_batch":
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        return lambda: model.train_on_batch(x, y)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return lambda: train_step(x, y).numpy()  # .numpy() waits for the step to finish


def time_block(step, n: int) -> float:
    """Milliseconds per step over n consecutive steps."""
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n * 1e3


def bench_pair(kind, shape, args) -> dict:
    units = shape[3]
    steps = {"ours": make_contender(recurrent(kind, units), shape, args.method, seed=1),
             "keras": make_contender(KERAS_LAYERS[kind](units), shape, args.method, seed=1)}
    warm = {}
    for name, step in steps.items():
        for _ in range(args.warmup):
            step()
        warm[name] = time_block(step, 2)
    # --steps 0: pick n so one timed block lasts about --block-seconds (same n for both)
    n = args.steps or max(2, round(args.block_seconds * 1e3 / max(warm.values())))
    times = {"ours": [], "keras": []}
    for r in range(args.repeats):
        order = ("ours", "keras") if r % 2 == 0 else ("keras", "ours")
        for name in order:
            times[name].append(time_block(steps[name], n))
    ratios = [o / k for o, k in zip(times["ours"], times["keras"])]
    flops = train_flops(kind, *shape)
    out = {"kind": kind, "keras_layer": KERAS_NAMES[kind], "batch": shape[0], "T": shape[1],
           "n_x": shape[2], "units": shape[3], "steps_per_block": n, "train_step_flops": flops,
           "ratio_median": statistics.median(ratios), "ratios": ratios}
    for name, ms in times.items():
        med = statistics.median(ms)
        out[name] = {"ms_median": med, "ms_min": min(ms), "ms_max": max(ms), "ms_all": ms,
                     "gflops": flops / (med / 1e3) / 1e9}
    return out


def shape_str(r) -> str:
    return f"B={r['batch']} T={r['T']} n_x={r['n_x']} units={r['units']}"


def markdown_section(res: dict) -> str:
    m, peak = res["machine"], res["peak_gflops"]
    lines = [SECTION, "",
             f"Measured {res['date']} on {m['cpu']} ({m['nproc']} cores), TensorFlow {m['tensorflow']}, "
             f"Keras {m['keras']}, code at commit {m['git_commit']}"
             f"{' + uncommitted layer changes' if m['layers_modified'] else ''} (layers sha256 "
             f"{m['layers_sha256']}); 1-min load average "
             f"{res['loadavg_1min_start_end'][0]:.1f} at start, {res['loadavg_1min_start_end'][1]:.1f} at end. "
             "Command:", "", f"    {res['command']}", "",
             f"Method: {res['method_description']} Warm-up, then {res['repeats']} interleaved rounds "
             "(alternating order) per layer/shape; ms/step is the median over rounds (min-max in "
             "brackets); ratio = median of per-round ours/keras ratios.", "",
             f"Peak: float32 2048x2048 matmul, best {peak:.1f} GFLOP/s. FLOP convention: "
             "training step = 3 x forward, forward = 2 * batch * T * (n_x + units) * G * units "
             "(G = 1 rnn, 3 gru, 4 lstm).", "",
             "| layer | shape | ours ms/step | keras ms/step | ratio ours/keras | ours % of peak "
             "| keras % of peak |",
             "|---|---|---|---|---|---|---|"]
    for r in res["results"]:
        o, k = r["ours"], r["keras"]
        lines.append(
            f"| {r['kind']} vs keras.layers.{r['keras_layer']} | {shape_str(r)} "
            f"| {o['ms_median']:.1f} ({o['ms_min']:.1f}-{o['ms_max']:.1f}) "
            f"| {k['ms_median']:.1f} ({k['ms_min']:.1f}-{k['ms_max']:.1f}) "
            f"| {r['ratio_median']:.3f} | {100 * o['gflops'] / peak:.1f}% "
            f"| {100 * k['gflops'] / peak:.1f}% |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 15)")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps per timed block; 0 = auto from --block-seconds (default)")
    p.add_argument("--block-seconds", type=float, default=2.0, help="target block length for auto steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps after the tracing step")
    p.add_argument("--method", choices=("tf_function", "train_on_batch"), default="tf_function")
    p.add_argument("--kinds", default="gru,rnn,lstm")
    p.add_argument("--quick", action="store_true", help="tiny shapes and rounds, for smoke tests")
    p.add_argument("--out-json", default=None, help="default benchmarks/results/cells.json")
    p.add_argument("--results-md", default=None,
                   help="default benchmarks/RESULTS.md ('' to skip; --quick skips unless given)")
    args = p.parse_args(argv)
    shapes = QUICK_SHAPES if args.quick else SHAPES
    args.repeats = args.repeats or (2 if args.quick else 15)
    args.steps = (2 if args.quick else 0) if args.steps is None else args.steps
    here = os.path.dirname(os.path.abspath(__file__))
    out_json = args.out_json or os.path.join(here, "results", "cells-quick.json" if args.quick else "cells.json")
    results_md = args.results_md if args.results_md is not None else (
        "" if args.quick else os.path.join(here, "RESULTS.md"))

    exe = sys.executable  # the command as run from the repository root
    exe = os.path.relpath(exe, ROOT) if exe.startswith(ROOT + os.sep) else os.path.basename(exe)
    script = os.path.relpath(os.path.abspath(__file__), ROOT)
    command = shlex.join([exe, script, *(sys.argv[1:] if argv is None else argv)])
    machine = machine_info()
    print(f"{machine['cpu']} x{machine['nproc']}, TF {machine['tensorflow']}, Keras {machine['keras']}")
    load = [os.getloadavg()[0]]
    peaks = [matmul_peak_gflops(repeats=3 if args.quick else 7)]
    print(f"matmul peak: {peaks[0]:.1f} GFLOP/s", flush=True)
    results = []
    for shape in shapes:
        for kind in args.kinds.split(","):
            t0 = time.perf_counter()
            r = bench_pair(kind, shape, args)
            results.append(r)
            o, k = r["ours"], r["keras"]
            print(f"{kind:5s} {shape_str(r):32s} ours {o['ms_median']:8.2f} [{o['ms_min']:.2f}-{o['ms_max']:.2f}]"
                  f"  keras {k['ms_median']:8.2f} [{k['ms_min']:.2f}-{k['ms_max']:.2f}] ms  ratio "
                  f"{r['ratio_median']:.3f}  (n={r['steps_per_block']}, {time.perf_counter() - t0:.0f}s)", flush=True)
    peaks.append(matmul_peak_gflops(repeats=3 if args.quick else 7))
    peak = max(peaks)
    load.append(os.getloadavg()[0])
    print(f"matmul peak (before, after): {peaks[0]:.1f}, {peaks[1]:.1f} GFLOP/s; using {peak:.1f}")
    method_desc = ("custom train step (forward + MSE + GradientTape backward + Adam update) in "
                   "tf.function, same for both." if args.method == "tf_function" else
                   "model.train_on_batch with Adam and MSE loss, same for both.")
    res = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "command": command, "machine": machine, "method": args.method,
           "method_description": method_desc, "repeats": args.repeats, "warmup": args.warmup,
           "loadavg_1min_start_end": load, "peak_gflops": peak, "peak_gflops_measurements": peaks,
           "flop_convention": "train step = 3 x forward; forward = 2*batch*T*(n_x+units)*G*units, "
                              "G = 1 rnn, 3 gru, 4 lstm",
           "results": results}
    for r in results:
        for name in ("ours", "keras"):
            r[name]["percent_of_peak"] = 100 * r[name]["gflops"] / peak
    os.makedirs(os.path.dirname(os.path.abspath(out_json)), exist_ok=True)
    with open(out_json, "w") as f:
        json.dump(res, f, indent=2)
    print(f"wrote {out_json}")
    section = markdown_section(res)
    print("\n" + section)
    if results_md:
        from pathlib import Path

        from benchmarks.common import write_section

        heading = SECTION.removeprefix("## ")
        write_section(heading, section.split("\n", 1)[1], Path(results_md))
        print(f"wrote {results_md}")


if __name__ == "__main__":
    main()
