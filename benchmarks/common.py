"""Shared helpers for the benchmark scripts: machine description and RESULTS.md sections."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def configure_process() -> None:
    """The settings nlp-tasks' programs make (TensorFlow's C++ log off, glibc's malloc tuned:
    :func:`nlp_tasks.runtime.configure_process`), made when a benchmark starts, as the figures
    in RESULTS.md were measured."""
    from nlp_tasks.runtime import configure_process as configure

    configure()


configure_process()
RESULTS_MD = ROOT / "benchmarks" / "RESULTS.md"
RESULTS_DIR = ROOT / "benchmarks" / "results"


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=ROOT, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


# The commit of the code a benchmark loaded: read when it starts, not when it writes its results
# (commits that land during an hour-long run are not the code that ran).
COMMIT = _commit()


def machine_info() -> dict:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "load_average_1min": round(os.getloadavg()[0], 2)}
    try:
        import keras
        import tensorflow as tf

        info.update(tensorflow=tf.__version__, keras=keras.__version__,
                    gpus=[d.name for d in tf.config.list_logical_devices("GPU")])
    except ImportError:
        pass
    info["commit"] = COMMIT
    return info


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def write_json(name: str, data: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / name
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_section(heading: str, body: str, path: Path = RESULTS_MD) -> None:
    """Replace the ``## heading`` section of RESULTS.md (up to the next ``## ``), or append it."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    lines = text.splitlines(keepends=True)
    title = f"## {heading}"
    start = next((i for i, line in enumerate(lines) if line.rstrip() == title), None)
    section = f"{title}\n\n{body.strip()}\n"
    if start is None:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        text = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def add_settings(parser, config_class) -> None:
    """One flag per setting of ``config_class``, the same as the ``train`` commands' options
    (:func:`nlp_tasks.cli.options.argparse_settings`: one declaration, two renderings)."""
    from nlp_tasks.cli.options import argparse_settings

    argparse_settings(parser, config_class)


def config_from_args(config_class, args):
    """The config of the flags :func:`add_settings` added."""
    names = {f.name for f in config_class.settings()}
    return config_class(**{k: v for k, v in vars(args).items() if k in names})


def language_model_rows(spec: str) -> list[dict]:
    """What each saved language model of ``FWD[,BWD]`` is (``ner --lm-features``, ``sentiment
    --init-from``): shape, corpus, cost, validation loss and the command that trained it."""
    from tasks.charlm import LanguageModelPipeline

    rows = []
    for direction, path in zip(("forward", "backward"), spec.split(",")):
        lm = LanguageModelPipeline.load(path)
        cfg, training = lm.config, lm.metrics.get("training", {})
        rows.append({"direction": direction, "path": path, "shape": f"{cfg.cell} x {cfg.units} x {cfg.layers}",
                     "corpus": training.get("data", {}).get("train"), "train_tokens": training.get("train_tokens", 0),
                     "epochs": training.get("epochs_run"), "train_minutes": training.get("train_seconds", 0) / 60,
                     "val_nats": lm.metrics.get("validation", {}).get("nats_per_token", float("nan")),
                     "command": training.get("command"), "config": cfg.to_dict()})
    return rows


def language_model_table(rows: list[dict]) -> str:
    """The RESULTS.md table of :func:`language_model_rows`, and the commands that trained them."""
    unit = "word" if rows and rows[0]["config"].get("level") == "word" else "char"
    tokens = "words" if unit == "word" else "characters"
    return ("The language models (`charlm train`; validation: the part it held out, the last 10% of a folder's "
            "documents, whole files, or of a single file's text):\n\n"
            f"| direction | model | cell x units x layers | corpus | {tokens} trained | epochs | train minutes "
            f"| validation nats/{unit} |\n|---|---|---|---|---|---|---|---|\n"
            + "\n".join(f"| {t['direction']} | `{t['path']}` | {t['shape']} | `{t['corpus']}` | "
                         f"{t['train_tokens']:,} | {t['epochs']} | {t['train_minutes']:.1f} | {t['val_nats']:.4f} |"
                         for t in rows)
            + "\n\nTrained by: " + "; ".join(f"`{t['command']}`" for t in rows) + ".")


def median_time(fn, repeats: int = 3) -> float:
    """Median wall seconds of ``repeats`` calls of ``fn()``."""
    import statistics
    import time

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def step_arithmetic(cells, output_units: int, input_width: int, iterations: int = 3000) -> dict:
    """The arithmetic limit of one generation step of a stack of our cells, for one stream.

    FLOPs of one step: ``2 * G * units * (n_in + units)`` per cell (its input and recurrent
    products) plus ``2 * units * output_units`` for the output layer. Measured rate: the same
    matrix-vector products, batch 1, chained so nothing can be hoisted, in one XLA-compiled
    ``tf.while_loop`` of ``iterations`` steps: the products alone, with none of the step's
    element-wise work, gathers or draw. Also the 2048 x 2048 matmul peak, for scale."""
    import time

    import numpy as np
    import tensorflow as tf

    shapes, width = [], input_width
    for cell in cells:
        gates = cell.n_gates
        shapes.append((width, cell.units, gates))
        width = cell.units
    flops = sum(2 * g * u * (n + u) for n, u, g in shapes) + 2 * width * output_units
    rng = np.random.default_rng(0)
    weights = [(tf.constant(rng.normal(size=(n, g * u)).astype(np.float32) * 0.01),
                tf.constant(rng.normal(size=(u, g * u)).astype(np.float32) * 0.01)) for n, u, g in shapes]
    w_out = tf.constant(rng.normal(size=(width, output_units)).astype(np.float32) * 0.01)

    repeat = -(-input_width // output_units)

    @tf.function(jit_compile=True)
    def loop(x0):
        def body(i, x, states):
            new = []
            for (w_in, w_rec), (_, u, _), a in zip(weights, shapes, states):
                a = tf.tanh((tf.matmul(x, w_in) + tf.matmul(a, w_rec))[:, :u])  # (1, units)
                new.append(a)
                x = a
            y = tf.matmul(x, w_out)  # (1, output_units)
            x = tf.tanh(tf.tile(y, [1, repeat])[:, :input_width])  # fed back, as a drawn token would be
            return i + 1, x, tuple(new)

        states = tuple(tf.zeros((1, u)) for _, u, _ in shapes)
        _, x, _ = tf.while_loop(lambda i, *_: i < iterations, body, (0, x0, states))
        return x

    x0 = tf.ones((1, input_width))
    loop(x0).numpy()
    seconds = median_time(lambda: loop(x0).numpy(), 3) / iterations
    a = tf.random.normal((2048, 2048))
    matmul = tf.function(lambda a: tf.matmul(a, a))
    matmul(a).numpy()
    start = time.perf_counter()
    for _ in range(5):
        matmul(a).numpy()
    peak = 5 * 2 * 2048**3 / (time.perf_counter() - start)
    return {"flops_per_step": flops, "products_only_steps_per_s": 1 / seconds,
            "batch1_gflops": flops / seconds / 1e9, "matmul_peak_gflops": peak / 1e9,
            "peak_limit_steps_per_s": peak / flops}


def measured_child(script: str, *args) -> dict:
    """``python SCRIPT --child ARGS`` in a process of its own (TensorFlow's C++ log off): the JSON
    it prints, with ``peak_mb``, its peak resident memory (``ru_maxrss``)."""
    import sys

    process = subprocess.Popen([sys.executable, script, "--child", *map(str, args)], stdout=subprocess.PIPE,
                               cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child {args} failed")
    return {**json.loads(out), "peak_mb": round(usage.ru_maxrss / 1024, 1)}  # ru_maxrss: KiB on Linux


# ------------------------------------------------------------------ exported models (export.py, int8.py)
EXPORT_RUNTIMES = ("onnxruntime", "ai-edge-litert", "tf2onnx")


def runtime_versions() -> dict:
    """The versions of the packages that convert and run exports."""
    from importlib.metadata import version

    return {name: version(name) for name in EXPORT_RUNTIMES}


def runtime_line(date: str, machine: dict, versions: dict) -> str:
    """"Measured DATE on CPU (N cores, CPU only), TensorFlow .., Keras .., onnxruntime .., ..., commit ..\""""
    return (f"Measured {date} on {machine['cpu']} ({machine['cores']} cores, CPU only), TensorFlow "
            f"{machine.get('tensorflow')}, Keras {machine.get('keras')}, "
            + ", ".join(f"{name} {versions[name]}" for name in EXPORT_RUNTIMES) + f", commit {machine.get('commit')}")


def load_endpoint(folder: Path, fmt: str, name: str):
    """``call(**inputs) -> {output: array}`` of endpoint ``name`` of an ONNX or LiteRT export, loaded
    as a client loads it (onnxruntime with its default threads; LiteRT with ``num_threads`` = cores)."""
    if fmt == "litert":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(Path(folder) / "model.tflite"), num_threads=os.cpu_count())
        return interpreter.get_signature_runner(name)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(Path(folder) / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return lambda **inputs: dict(zip(names, session.run(None, inputs)))


def interleaved_times(contenders: dict, rounds: int) -> dict:
    """``{name: [seconds per round]}``: every contender called once for warm-up (traces,
    allocations, LiteRT resizes), then once per round, the order rotated from round to round."""
    import time

    names = list(contenders)
    for name in names:
        contenders[name]()
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - start)
    return times


def chunks_of(items, size: int) -> list:
    return [items[i:i + size] for i in range(0, len(items), size)]
