"""Training-step time of our RNN/GRU/LSTM layers vs Keras' SimpleRNN/GRU/LSTM and PyTorch's RNN/GRU/LSTM, on CPU.

Method
------
For each cell kind and each shape ``(batch, T, n_x, units)`` we build three models with the same
shapes: ``nlp_tasks.layers.recurrent(kind, units)`` + ``Dense(1)`` ("ours"), the matching Keras
built-in layer + ``Dense(1)`` ("keras"), and the matching PyTorch module
(``torch.nn.RNN(nonlinearity="tanh")`` / ``GRU`` / ``LSTM``, ``batch_first=True``) +
``torch.nn.Linear(units, 1)`` on the last time step's output ("torch"; the Keras models also use
only the last output, ``return_sequences=False``). Ours and keras are trained with the *same*
custom train step (forward, mean-squared loss, ``tf.GradientTape`` backward,
``keras.optimizers.Adam`` update) compiled with ``tf.function`` (``jit_compile=True`` with
``--jit-compile``, off by default). The torch step does the same work eagerly: forward, MSE loss,
``loss.backward()``, ``torch.optim.Adam(lr=1e-3).step()``, ``zero_grad(set_to_none=True)`` and
``loss.item()`` (which waits for the step). Random float32 inputs and targets are fixed tensors,
created once, so no input pipeline is timed. PyTorch runs with ``torch.set_num_threads(N)``, N =
the number of intra-op threads TensorFlow uses (its setting, or the CPUs this process may use;
``--torch-threads`` overrides it). PyTorch's OpenMP threads stall at barriers when a core is taken
by another process, so compare torch numbers only from a quiet machine.
PyTorch is optional (the ``bench`` extra): without it, or with ``--no-torch``, only ours and keras
are timed and the results say so.

Each contender is warmed up (trace/compile + a few steps). Then the contenders are INTERLEAVED: in
each round we time ``steps`` consecutive training steps of each contender in turn, the order
rotated cyclically from round to round (ours-keras-torch, keras-torch-ours, torch-ours-keras, ...),
so machine noise (other processes, turbo, caches) hits all alike. We report the median ms/step over
rounds with min and max, and the ratios ours/keras and ours/torch, each the median of the
per-round ratios.

The same run measures the machine's float32 matmul peak (best GFLOP/s of a 2048x2048
``tf.matmul``, before and after the cell timings) and reports each contender's achieved
fraction of it. FLOP convention: forward FLOPs = 2 * batch * T * (n_x + units) * G * units
(G = 1 rnn, 3 gru, 4 lstm: the gate matmuls only; elementwise work and PyTorch's second bias
vector are ignored; the same count for all three), and a training step counts as 3 x forward
FLOPs (forward + two matmuls per matmul in the backward pass).

Usage: ``python benchmarks/cells.py [--repeats R] [--steps N] [--quick] [--no-torch] [--jit-compile]``.
``--steps`` defaults to auto (about ``--block-seconds`` for the slowest contender's warm-up
speed, same N for all contenders); ``--method train_on_batch`` times ``model.train_on_batch``
instead for ours and keras. ``--quick`` (tiny shapes) writes ``results/cells-quick.json`` and
leaves RESULTS.md alone unless ``--results-md`` is given.
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
from nlp_tasks.layers.fused import takes_fused_path as fused_path  # noqa: E402

SECTION = "## Cells: training-step time vs Keras built-in layers and PyTorch"
OLD_SECTIONS = ("## Cells: training-step time vs Keras built-in layers",)  # replaced, not duplicated
SHAPES = [(64, 100, 128, 256), (32, 50, 64, 128)]  # (batch, T, n_x, units)
QUICK_SHAPES = [(8, 10, 16, 32)]
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
KERAS_LAYERS = {"rnn": keras.layers.SimpleRNN, "gru": keras.layers.GRU, "lstm": keras.layers.LSTM}
KERAS_NAMES = {"rnn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}
TORCH_NAMES = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}


def tf_threads() -> int:
    """Intra-op threads TensorFlow uses: its setting, else (0 = default) the CPUs we may run on."""
    n = tf.config.threading.get_intra_op_parallelism_threads()
    if n:
        return n
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load_torch(disabled: bool, threads: int = 0):
    """(torch module or None, status string). Seeds and thread count (0 = TF's) are set here."""
    if disabled:
        return None, "disabled by --no-torch"
    try:
        import torch
    except ImportError as e:  # optional: lives in the `bench` extra
        return None, f"not installed: {e}"
    torch.set_num_threads(threads or tf_threads())
    torch.manual_seed(0)
    return torch, "ran"


def machine_info(torch=None) -> dict:
    from nlp_tasks.layers import calibration

    host = calibration.machine()  # the CPU model and vector flags, as the path cache keys them
    def run(*command):
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True).stdout.strip()

    nproc = run("nproc")
    code = [os.path.join("nlp_tasks", "layers", f) for f in ("cells.py", "recurrent.py", "bptt.py", "calibration.py")]
    sha = hashlib.sha256(b"".join(open(os.path.join(ROOT, f), "rb").read() for f in code)).hexdigest()
    return {"nproc": int(nproc) if nproc.isdigit() else os.cpu_count(), "cpu": host["cpu"],
            "cpu_flags": host["cpu_flags"], "recurrent_path_mode": calibration.mode(),
            "platform": platform.platform(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__, "tf_threads": tf_threads(),
            "torch": torch.__version__ if torch else None,
            "torch_threads": torch.get_num_threads() if torch else None,
            "torch_interop_threads": torch.get_num_interop_threads() if torch else None,
            "git_commit": run("git", "rev-parse", "--short", "HEAD"),
            "layers_modified": bool(run("git", "status", "--porcelain", *code)),
            "layers_sha256": sha[:12]}


def matmul_peak_gflops(n: int = 2048, repeats: int = 7, dtype: str = "float32") -> float:
    """Best GFLOP/s of an n x n matmul in ``dtype`` (one matmul per timed call)."""
    a, b = tf.cast(tf.random.normal((n, n)), dtype), tf.cast(tf.random.normal((n, n)), dtype)
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


def make_contender(layer, shape, method: str, seed: int, jit_compile: bool = False):
    """Model = layer + Dense(1) and a zero-argument callable that runs one training step."""
    batch, t, n_x, _ = shape
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((t, n_x)), layer, keras.layers.Dense(1)])
    x = tf.random.normal((batch, t, n_x))
    y = tf.random.normal((batch, 1))
    if method == "train_on_batch":
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", jit_compile=jit_compile)
        return lambda: model.train_on_batch(x, y)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=jit_compile)
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(tf.cast(model(x, training=True), y.dtype) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return lambda: train_step(x, y).numpy()  # .numpy() waits for the step to finish


def make_torch_contender(torch, kind: str, shape, seed: int):
    """torch.nn.RNN/GRU/LSTM (batch_first) + Linear(units, 1) on the last step; one-step callable."""
    batch, t, n_x, units = shape
    torch.manual_seed(seed)
    extra = {"nonlinearity": "tanh"} if kind == "rnn" else {}
    rnn = getattr(torch.nn, TORCH_NAMES[kind])(n_x, units, batch_first=True, **extra)
    head = torch.nn.Linear(units, 1)
    optimizer = torch.optim.Adam([*rnn.parameters(), *head.parameters()], lr=1e-3)
    x = torch.randn(batch, t, n_x, dtype=torch.float32)
    y = torch.randn(batch, 1, dtype=torch.float32)

    def train_step():
        out, _ = rnn(x)  # (batch, T, units)
        loss = torch.nn.functional.mse_loss(head(out[:, -1]), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()  # .item() waits for the step to finish

    return train_step


def time_block(step, n: int) -> float:
    """Milliseconds per step over n consecutive steps."""
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n * 1e3


def bench_pair(kind, shape, args, torch=None) -> dict:
    """Ours vs keras (vs torch when given), interleaved rounds with the order rotated."""
    units = shape[3]
    ours = recurrent(kind, units)
    steps = {"ours": make_contender(ours, shape, args.method, 1, args.jit_compile),
             "keras": make_contender(KERAS_LAYERS[kind](units), shape, args.method, 1, args.jit_compile)}
    if kind in ("gru", "lstm") and tf.config.list_logical_devices("GPU"):
        # On a GPU "ours" takes the fused (cuDNN) path by default; time our own loop beside it.
        steps["ours_loop"] = make_contender(recurrent(kind, units, fused=False), shape, args.method, 1,
                                            args.jit_compile)
    if torch is not None:
        steps["torch"] = make_torch_contender(torch, kind, shape, seed=1)
    names = list(steps)
    first, warm = {}, {}
    for name, step in steps.items():
        t0 = time.perf_counter()
        step()  # trace / compile (TF), first allocations (torch)
        first[name] = (time.perf_counter() - t0) * 1e3
        for _ in range(args.warmup - 1):
            step()
        warm[name] = time_block(step, 2)
    # --steps 0: pick n so one timed block of the slowest lasts about --block-seconds (same n for all)
    n = args.steps or max(2, round(args.block_seconds * 1e3 / max(warm.values())))
    times = {name: [] for name in names}
    for r in range(args.repeats):
        k = r % len(names)  # cyclic rotation: each contender takes each position equally often
        for name in names[k:] + names[:k]:
            times[name].append(time_block(steps[name], n))
    ratios = [o / k for o, k in zip(times["ours"], times["keras"])]
    flops = train_flops(kind, *shape)
    out = {"kind": kind, "keras_layer": KERAS_NAMES[kind], "torch_layer": TORCH_NAMES[kind],
           "batch": shape[0], "T": shape[1], "n_x": shape[2], "units": shape[3],
           "steps_per_block": n, "train_step_flops": flops,
           "ours_training_path": "fused" if fused_path(ours) else ours.training_path(shape[0], shape[1], shape[2]),
           "ratio_median": statistics.median(ratios), "ratios": ratios,
           "ratio_vs_torch_median": None, "ratios_vs_torch": None, "torch": None}
    if "torch" in times:
        out["ratios_vs_torch"] = [o / t for o, t in zip(times["ours"], times["torch"])]
        out["ratio_vs_torch_median"] = statistics.median(out["ratios_vs_torch"])
    for name, ms in times.items():
        med = statistics.median(ms)
        out[name] = {"ms_median": med, "ms_min": min(ms), "ms_max": max(ms), "ms_all": ms,
                     "gflops": flops / (med / 1e3) / 1e9, "first_step_ms": first[name],
                     "warm_ms": warm[name]}
    return out


def shape_str(r) -> str:
    return f"B={r['batch']} T={r['T']} n_x={r['n_x']} units={r['units']}"


def ms_str(c) -> str:
    return f"{c['ms_median']:.1f} ({c['ms_min']:.1f}-{c['ms_max']:.1f})"


def markdown_section(res: dict) -> str:
    m, peak = res["machine"], res["peak_gflops"]
    ran = res["torch_status"] == "ran"
    torch_text = (f"PyTorch {m['torch']} with {m['torch_threads']} threads (TensorFlow: "
                  f"{m['tf_threads']} intra-op threads)" if ran else
                  "PyTorch not timed (see below)")
    xla = ("with XLA (`tf.function(jit_compile=True)`)" if res["jit_compile"] else
           "without XLA (`jit_compile` off)")
    if res.get("mixed_precision"):
        xla += f", under Keras' `mixed_{res['mixed_precision']}` policy"
    lines = [SECTION, "",
             f"Measured {res['date']} on {m['cpu']} ({m['nproc']} cores; vector flags "
             f"{' '.join(m.get('cpu_flags') or ['not recorded'])}), TensorFlow {m['tensorflow']}, "
             f"Keras {m['keras']}, {torch_text}, code at commit {m['git_commit']}"
             f"{' + uncommitted layer changes' if m['layers_modified'] else ''} (layers sha256 "
             f"{m['layers_sha256']}); 1-min load average "
             f"{res['loadavg_1min_start_end'][0]:.1f} at start, {res['loadavg_1min_start_end'][1]:.1f} at end. "
             "Command:", "", f"    {res['command']}", "",
             f"Method: {res['method_description']} TF train steps compiled {xla}. PyTorch: the "
             "matching `torch.nn.RNN(nonlinearity=\"tanh\")` / `GRU` / `LSTM` (`batch_first=True`) + "
             "`Linear(units, 1)` on the last time step, eager forward + MSE + `loss.backward()` + "
             "`Adam(lr=1e-3).step()` + `zero_grad(set_to_none=True)` + `loss.item()`. Warm-up, then "
             f"{res['repeats']} interleaved rounds per layer/shape (contender order rotated each "
             "round; same steps per block for all); ms/step is the median over rounds (min-max in "
             "brackets); ratios = median of per-round ratios.", "",
             f"Peak: {res.get('peak_dtype', 'float32')} 2048x2048 `tf.matmul`, best {peak:.1f} GFLOP/s. "
             "FLOP convention (same for "
             "all three): training step = 3 x forward, forward = 2 * batch * T * (n_x + units) * G * "
             "units (G = 1 rnn, 3 gru, 4 lstm).", "",
             "Ours trains along the path measured fastest on this machine for each cell and shape "
             f"(`NLP_TASKS_RECURRENT_PATH={m.get('recurrent_path_mode', 'calibrate')}`, "
             "`nlp_tasks.layers.calibration`); the path column says which.", "",
             "| layer (ours vs keras.layers / torch.nn) | shape | ours path | ours ms/step | keras ms/step "
             "| torch ms/step | ours/keras | ours/torch | % of peak ours / keras / torch |",
             "|---|---|---|---|---|---|---|---|---|"]

    def pct(c):
        return f"{100 * c['gflops'] / peak:.1f}%" if c else "n/a"

    for r in res["results"]:
        o, k, t = r["ours"], r["keras"], r.get("torch")
        lines.append(
            f"| {r['kind']} vs {r['keras_layer']} / {r['torch_layer']} | {shape_str(r)} "
            f"| {r.get('ours_training_path', '-')} | {ms_str(o)} | {ms_str(k)} | {ms_str(t) if t else 'n/a'} "
            f"| {r['ratio_median']:.3f} "
            f"| {'n/a' if r['ratio_vs_torch_median'] is None else format(r['ratio_vs_torch_median'], '.3f')} "
            f"| {pct(o)} / {pct(k)} / {pct(t)} |")
    looped = [r for r in res["results"] if r.get("ours_loop")]
    if looped:
        lines += ["", "On this GPU our GRU and LSTM took the fused path (`Recurrent(fused=None)` with a GPU "
                  "visible: Keras' cuDNN call on our converted weights); our own time loop "
                  "(`fused=False`) in the same rounds:", "",
                  "| layer | shape | ours fused ms/step | ours loop ms/step | keras ms/step | loop / fused |",
                  "|---|---|---|---|---|---|"]
        for r in looped:
            lines.append(f"| {r['kind']} | {shape_str(r)} | {ms_str(r['ours'])} | {ms_str(r['ours_loop'])} | "
                         f"{ms_str(r['keras'])} | {r['ours_loop']['ms_median'] / r['ours']['ms_median']:.2f} |")
    if not ran:
        lines += ["", f"PyTorch was not timed ({res['torch_status']}), so its columns are n/a."]
    return "\n".join(lines) + "\n"


def write_results_md(section: str, path) -> None:
    """Write the section into RESULTS.md in place of this section or an old-heading one (no duplicates)."""
    from pathlib import Path

    from benchmarks.common import write_section

    path = Path(path)
    if path.exists():
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        heads = [i for i, line in enumerate(lines) if line.rstrip() in (SECTION, *OLD_SECTIONS)]
        if heads and not (len(heads) == 1 and lines[heads[0]].rstrip() == SECTION):
            keep = next((i for i in heads if lines[i].rstrip() == SECTION), heads[0])
            drop = set()
            for i in heads:  # drop every other old/new copy, up to the next "## " heading
                if i != keep:
                    end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
                    drop.update(range(i, end))
            lines[keep] = SECTION + "\n"  # rename in place; write_section then replaces its body
            text = "".join(line for i, line in enumerate(lines) if i not in drop)
            tmp = path.with_suffix(".md.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
    write_section(SECTION.removeprefix("## "), section.split("\n", 1)[1], path)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 15)")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps per timed block; 0 = auto from --block-seconds (default)")
    p.add_argument("--block-seconds", type=float, default=2.0, help="target block length for auto steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps, the tracing step included")
    p.add_argument("--method", choices=("tf_function", "train_on_batch"), default="tf_function")
    p.add_argument("--jit-compile", action="store_true",
                   help="compile the TF train steps (ours and keras) with XLA; default off")
    p.add_argument("--no-torch", action="store_true", help="time ours vs keras only, without PyTorch")
    p.add_argument("--mixed-precision", choices=("bfloat16", "float16"), default=None,
                   help="Keras' mixed_<dtype> policy for ours and keras (float32 weights, <dtype> "
                        "compute); PyTorch is not timed then, and the peak is that dtype's matmul")
    p.add_argument("--torch-threads", type=int, default=0,
                   help="torch.set_num_threads; 0 = as many as TensorFlow uses (default)")
    p.add_argument("--kinds", default="gru,rnn,lstm")
    p.add_argument("--quick", action="store_true", help="tiny shapes and rounds, for smoke tests")
    p.add_argument("--out-json", default=None, help="default benchmarks/results/cells.json")
    p.add_argument("--results-md", default=None,
                   help="default benchmarks/RESULTS.md ('' to skip; --quick skips unless given)")
    args = p.parse_args(argv)
    shapes = QUICK_SHAPES if args.quick else SHAPES
    args.repeats = args.repeats or (3 if args.quick else 15)
    args.steps = (2 if args.quick else 0) if args.steps is None else args.steps
    here = os.path.dirname(os.path.abspath(__file__))
    out_json = args.out_json or os.path.join(here, "results", "cells-quick.json" if args.quick else "cells.json")
    results_md = args.results_md if args.results_md is not None else (
        "" if args.quick else os.path.join(here, "RESULTS.md"))

    exe = sys.executable  # the command as run from the repository root
    exe = os.path.relpath(exe, ROOT) if exe.startswith(ROOT + os.sep) else os.path.basename(exe)
    script = os.path.relpath(os.path.abspath(__file__), ROOT)
    command = shlex.join([exe, script, *(sys.argv[1:] if argv is None else argv)])
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy(f"mixed_{args.mixed_precision}")
        torch, torch_status = None, f"not timed under --mixed-precision {args.mixed_precision}"
    else:
        torch, torch_status = load_torch(args.no_torch, args.torch_threads)
    peak_dtype = args.mixed_precision or "float32"
    machine = machine_info(torch)
    print(f"{machine['cpu']} x{machine['nproc']}, TF {machine['tensorflow']} ({machine['tf_threads']} threads), "
          f"Keras {machine['keras']}, PyTorch "
          + (f"{machine['torch']} ({machine['torch_threads']} threads)" if torch else torch_status)
          + f", jit_compile={args.jit_compile}, precision={args.mixed_precision or 'float32'}")
    load = [os.getloadavg()[0]]
    peaks = [matmul_peak_gflops(repeats=3 if args.quick else 7, dtype=peak_dtype)]
    print(f"matmul peak: {peaks[0]:.1f} GFLOP/s", flush=True)
    results = []
    for shape in shapes:
        for kind in args.kinds.split(","):
            t0 = time.perf_counter()
            r = bench_pair(kind, shape, args, torch)
            results.append(r)
            line = f"{kind:5s} {shape_str(r):32s}"
            for name in ("ours", "keras", "torch"):
                if r.get(name):
                    c = r[name]
                    line += f"  {name} {c['ms_median']:.2f} [{c['ms_min']:.2f}-{c['ms_max']:.2f}]"
            line += f" ms  ours/keras {r['ratio_median']:.3f}"
            if r["ratio_vs_torch_median"] is not None:
                line += f"  ours/torch {r['ratio_vs_torch_median']:.3f}"
            first = ", ".join(f"{name} {r[name]['first_step_ms']:.0f}" for name in ("ours", "keras", "torch")
                              if r.get(name))
            print(f"{line}  (n={r['steps_per_block']}, first step ms: {first}; "
                  f"{time.perf_counter() - t0:.0f}s)", flush=True)
    peaks.append(matmul_peak_gflops(repeats=3 if args.quick else 7, dtype=peak_dtype))
    peak = max(peaks)
    load.append(os.getloadavg()[0])
    print(f"matmul peak (before, after): {peaks[0]:.1f}, {peaks[1]:.1f} GFLOP/s; using {peak:.1f}")
    method_desc = ("custom train step (forward + MSE + GradientTape backward + Adam update) in "
                   "tf.function, same for ours and keras." if args.method == "tf_function" else
                   "model.train_on_batch with Adam and MSE loss, same for ours and keras.")
    res = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "command": command, "machine": machine, "method": args.method,
           "method_description": method_desc, "jit_compile": args.jit_compile,
           "mixed_precision": args.mixed_precision, "peak_dtype": peak_dtype,
           "torch_status": torch_status, "order": "cyclic rotation of the contenders by round",
           "repeats": args.repeats, "warmup": args.warmup,
           "loadavg_1min_start_end": load, "peak_gflops": peak, "peak_gflops_measurements": peaks,
           "flop_convention": "train step = 3 x forward; forward = 2*batch*T*(n_x+units)*G*units, "
                              "G = 1 rnn, 3 gru, 4 lstm (same for ours, keras and torch)",
           "results": results}
    for r in results:
        for name in ("ours", "keras", "torch"):
            if r.get(name):
                r[name]["percent_of_peak"] = 100 * r[name]["gflops"] / peak
    os.makedirs(os.path.dirname(os.path.abspath(out_json)), exist_ok=True)
    with open(out_json, "w") as f:
        json.dump(res, f, indent=2)
    print(f"wrote {out_json}")
    section = markdown_section(res)
    print("\n" + section)
    if results_md:
        write_results_md(section, results_md)
        print(f"wrote {results_md}")


if __name__ == "__main__":
    main()
