"""Which training path :class:`~nlp_tasks.layers.Recurrent` takes, measured on this machine.

A layer of ours can train along three paths on a CPU, all computing the same function and the
same gradients (tested):

- ``bptt``: the input projection hoisted out of the loop (one large product) and the
  hand-written backpropagation through time of :mod:`nlp_tasks.layers.bptt` (one large weight
  gradient after the loop); for the Elman RNN, the ``reset_after`` GRU and the LSTM;
- ``hoisted``: the input projection hoisted, TensorFlow differentiating the loop;
- ``loop``: the input projection inside the loop, TensorFlow differentiating it.

Which one is fastest depends on the machine, not only on the shape: ``bptt`` became the rule
because it measured faster on the project's machine on 2026-11-26; on 2026-12-04, with a faster
matmul, the ``loop`` path won for the RNN and the GRU (benchmarks/NOTES.md, issue #23). So the
first time a layer of a given kind and shape trains, the candidates are timed for a moment
(a forward and backward pass each, on random inputs of that shape, interleaved) and the fastest
is kept, in memory and in a small JSON file per machine (:func:`cache_path`), so later runs on
the same machine choose at once. The file only saves time: one that is absent, unreadable or
damaged in any way (not a regular file, too large, nested too deeply, an entry of the wrong
shape) is read as holding nothing, or only its well-formed entries, and training measures again
and rewrites it (:func:`nlp_tasks.io.safe_files.read_cache_json`, :func:`_valid_entry`).

The calibration never touches the random state that training uses (its weights are constants,
its inputs come from a stateless generator) and never names a layer automatically, so a seeded
run trains the same way whether or not it calibrated first. Paths chosen by calibration may
differ between machines (and, for candidates within the noise of each other, between first
runs on one machine), which changes the rounding of the results, not the function.

Overrides: ``NLP_TASKS_RECURRENT_PATH=fixed`` (no calibration: ``bptt`` where written, else
``hoisted`` for gated cells, ``loop`` for the RNN: the rule before calibration existed),
``=bptt``, ``=hoisted`` or ``=loop`` (that path for every layer that has it); per layer,
``Recurrent(hoist_inputs=..., fused_backward=...)``. ``NLP_TASKS_CACHE`` moves the cache folder.
Under a distribution strategy with several replicas nothing is timed: a cached choice is used,
else the fixed rule.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

from nlp_tasks.io.paths import CACHE_ENV  # noqa: F401 - the variable naming the cache folder (tests set it)

PATHS = ("bptt", "hoisted", "loop")
MODES = ("calibrate", "fixed", *PATHS)
ENV = "NLP_TASKS_RECURRENT_PATH"
MAX_BATCH, MAX_STEPS, DEFAULT_BATCH, DEFAULT_STEPS = 64, 64, 32, 32
MIN_ROUNDS, MAX_ROUNDS, BLOCK_SECONDS, BUDGET_SECONDS = 7, 31, 0.05, 2.0
CACHE_VERSION = 1
MAX_CACHE_BYTES = 4 * 2**20  # a few hundred bytes per shape measured: beyond this it is damaged

_lock = threading.Lock()
_memory: dict[str, dict] = {}


def mode() -> str:
    """The ``NLP_TASKS_RECURRENT_PATH`` setting (default ``calibrate``); a bad value is refused."""
    value = os.environ.get(ENV, "calibrate").strip().lower() or "calibrate"
    if value not in MODES:
        from nlp_tasks.errors import UserError

        raise UserError(f"{ENV}={value!r} is not one of {', '.join(MODES)}")
    return value


def path_options(name: str) -> dict:
    """The ``Recurrent`` arguments that fix the training path ``name``."""
    return {"hoist_inputs": name != "loop", "fused_backward": name == "bptt"}


def candidates(layer) -> tuple[str, ...]:
    """The paths this layer's cell can take (``bptt`` only where :mod:`bptt` has its equations)."""
    return PATHS if layer._bptt_cell_kind() is not None else PATHS[1:]


def fixed_path(layer) -> str:
    """The rule used without calibration: ``bptt`` where written, else ``hoisted`` for a gated
    cell and ``loop`` for the Elman RNN's thin projection."""
    if layer._bptt_cell_kind() is not None:
        return "bptt"
    return "hoisted" if layer.cell.n_gates > 1 else "loop"


def cell_signature(cell, dtype: str) -> str:
    """What the cost of a step depends on, besides the shape: the cell's class, its options that
    change the arithmetic, the compute dtype."""
    config = cell.get_config()
    options = [f"{k}={config[k]}" for k in ("activation", "reset_after") if k in config]
    return ":".join([type(cell).__name__, *options, dtype])


def calibration_shape(batch, steps) -> tuple[int, int]:
    """The batch and length timed: the layer's own where known, capped (the ranking is per step
    and per row; a longer run only costs time); the batch rounded up to a power of two, the
    cache key's."""
    batch = DEFAULT_BATCH if not batch else min(int(batch), MAX_BATCH)
    steps = DEFAULT_STEPS if not steps else min(int(steps), MAX_STEPS)
    return 1 << (batch - 1).bit_length(), steps


def machine() -> dict:
    """What the ranking depends on: the CPU model and its vector flags, the threads, the
    versions, the devices."""
    import keras
    import tensorflow as tf

    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                name, _, value = line.partition(":")
                fields.setdefault(name.strip(), value.strip())  # the first CPU's
    except OSError:
        pass
    cpu = fields.get("model name") or platform.processor() or "unknown"
    flags = sorted(w for w in fields.get("flags", "").split() if w.startswith(("avx", "fma", "amx", "sse4")))
    return {"cpu": cpu, "cpu_flags": flags, "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count(), "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "tensorflow": tf.__version__, "keras": keras.__version__,
            "gpus": [d.name for d in tf.config.list_logical_devices("GPU")],
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "")}


def cache_path() -> Path:
    """``$NLP_TASKS_CACHE`` (or ``$XDG_CACHE_HOME/nlp-tasks``, or ``~/.cache/nlp-tasks``) /
    ``recurrent-paths-<machine digest>.json``: one file per kind of machine, so a home folder
    shared by several kinds of machine keeps each one's choices."""
    from nlp_tasks.io.paths import cache_dir

    digest = hashlib.sha256(json.dumps(machine(), sort_keys=True).encode()).hexdigest()[:12]
    return cache_dir() / f"recurrent-paths-{digest}.json"


def _read_cache(path: Path) -> dict:
    """The well-formed entries of the cache file ``path`` (:func:`_entries`)."""
    from nlp_tasks.io.safe_files import read_cache_json

    return _entries(read_cache_json(path, MAX_CACHE_BYTES)) or {}


def _entries(data) -> dict | None:
    """The entries of a cache file's JSON value that :func:`_valid_entry` accepts; None for a
    file absent, unreadable, damaged or of another version: measured again and rewritten."""
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("entries"), dict):
        return None
    return {k: v for k, v in data["entries"].items() if _valid_entry(v)}


def _valid_entry(entry) -> bool:
    """An entry as :func:`training_path` writes it: the ``path`` chosen among the finite,
    non-negative milliseconds ``ms`` measured per path, the ``batch`` and ``steps`` timed (at
    most the caps) and the ``date``. Anything else in a cache is dropped, measured again."""
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not isinstance(entry.get("ms"), dict):
        return False
    ms, batch, steps = entry["ms"], entry.get("batch"), entry.get("steps")
    return (entry["path"] in PATHS and entry["path"] in ms and set(ms) <= set(PATHS)
            and all(_number(v) and math.isfinite(v) and v >= 0 for v in ms.values())
            and _count(batch) and 1 <= batch <= MAX_BATCH and _count(steps) and 1 <= steps <= MAX_STEPS
            and isinstance(entry.get("date"), str))


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _write_cache(path: Path, entries: dict) -> None:
    """Atomically: a temporary file in the same folder, then a rename. A cache that cannot be
    written (read-only home) only means the next run measures again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".recurrent-paths-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"version": CACHE_VERSION, "machine": machine(), "entries": entries}, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass


def summary() -> dict:
    """For ``nlp-tasks info``: the setting, the cache file and its state (``absent``, ``ok``
    or ``damaged``: what training will measure again), and the paths it holds per cell kind."""
    from nlp_tasks.io.safe_files import read_cache_json

    path = cache_path()
    data = read_cache_json(path, MAX_CACHE_BYTES)
    entries = _entries(data)
    if entries is None and not os.path.lexists(path):
        state = "absent"
    elif entries is not None and len(entries) == len(data["entries"]):
        state = "ok"
    else:  # unreadable, not a cache of this version, or some entries malformed
        state = "damaged (measured again and rewritten when training)"
    entries = entries or {}
    kinds = {"RNNCell": "rnn", "GRUCell": "gru", "MinimalGRUCell": "mingru", "LSTMCell": "lstm"}
    chosen: dict[str, set] = {}
    for key, entry in entries.items():
        chosen.setdefault(kinds.get(key.split(":", 1)[0], key.split(":", 1)[0]), set()).add(entry["path"])
    return {"mode": mode(), "cache": str(path), "cache_state": state, "measured": len(entries),
            **{kind: ", ".join(sorted(paths)) for kind, paths in chosen.items()}}


def _several_replicas() -> bool:
    import tensorflow as tf

    return tf.distribute.has_strategy() and tf.distribute.get_strategy().num_replicas_in_sync > 1


def training_path(layer, batch, steps, n_x: int) -> str:
    """The path ``layer`` trains along for inputs of ``(batch, steps, n_x)`` (None where unknown)."""
    setting = mode()
    options = candidates(layer)
    if setting in PATHS:
        return setting if setting in options else fixed_path(layer)
    import keras

    if setting == "fixed" or keras.backend.backend() != "tensorflow":
        return fixed_path(layer)
    b, t = calibration_shape(batch, steps)
    key = f"{cell_signature(layer.cell, layer.compute_dtype)}|batch={b}|n_x={n_x}|units={layer.cell.units}"
    with _lock:
        if key in _memory:
            return _memory[key]["path"]
        path = cache_path()
        entries = _read_cache(path)
        if key in entries and entries[key]["path"] in options:
            _memory[key] = entries[key]
            return entries[key]["path"]
        if _several_replicas():
            return fixed_path(layer)
        try:
            times = measure(layer, options, b, t, n_x)
        except Exception:  # noqa: BLE001 - a calibration that cannot run must not stop training
            return fixed_path(layer)
        best = min(times, key=times.get)
        entry = {"path": best, "ms": times, "batch": b, "steps": t,
                 "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        _memory[key] = entry
        entries = _read_cache(path)  # another process may have written meanwhile
        entries[key] = entry
        _write_cache(path, entries)
        return best


def measure(layer, options, batch: int, steps: int, n_x: int) -> dict:
    """Median ms of a forward and backward pass of ``layer``'s cell along each path, interleaved
    rounds (the order rotated), with constant weights and stateless random inputs.

    It runs in a thread of its own: TensorFlow's graph, tape and strategy contexts are per
    thread, so it runs eagerly with gradients recorded even when asked while Keras traces a
    training step (``tf.init_scope`` would pause the tape)."""
    outcome = {}

    def work():
        try:
            outcome["times"] = _measure(layer, options, batch, steps, n_x)
        except Exception as err:  # noqa: BLE001 - raised again in the caller's thread
            outcome["error"] = err

    thread = threading.Thread(target=work, name="nlp-tasks-calibration")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["times"]


def _measure(layer, options, batch: int, steps: int, n_x: int) -> dict:
    import tensorflow as tf

    config = layer.cell.get_config()
    config.update(name=f"nlp_tasks_calibration_{type(layer.cell).__name__}",
                  kernel_initializer={"class_name": "Constant", "config": {"value": 0.01}},
                  recurrent_initializer={"class_name": "Constant", "config": {"value": 0.01}},
                  bias_initializer="zeros", initial_state_mode="zeros")
    x = tf.cast(tf.random.stateless_normal((batch, steps, n_x), seed=(0, 1)), layer.compute_dtype)
    functions = {}
    for name in options:
        rnn = type(layer)(type(layer.cell).from_config(config), **path_options(name),  # the layer's own class
                        fused=False, return_sequences=layer.return_sequences,
                        go_backwards=layer.go_backwards, dtype=layer.dtype_policy,
                        name=f"nlp_tasks_calibration_{name}")
        rnn.build((batch, steps, n_x))

        def step(x, rnn=rnn):
            with tf.GradientTape() as tape:
                out = rnn(x, training=True)
                loss = tf.reduce_mean(tf.square(tf.cast(out, tf.float32)))
            return tape.gradient(loss, rnn.trainable_variables)

        functions[name] = tf.function(step)
    calls = {}
    for name, f in functions.items():
        if any(g is None for g in f(x)):  # traces; a path with a gradient missing would time too little
            raise RuntimeError(f"the {name} path computed no gradient for a weight")
        start = time.perf_counter()
        tf.nest.map_structure(lambda g: g.numpy(), f(x))
        calls[name] = time.perf_counter() - start
    n = max(1, round(BLOCK_SECONDS / max(max(calls.values()), 1e-6)))
    # Small layers are cheap to time and noisy: more rounds within the budget.
    rounds = min(MAX_ROUNDS, max(MIN_ROUNDS, round(BUDGET_SECONDS / (n * sum(calls.values())))))
    times = {name: [] for name in functions}
    names = list(functions)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            for _ in range(n):
                out = functions[name](x)
            tf.nest.map_structure(lambda g: g.numpy(), out)
            times[name].append((time.perf_counter() - start) / n * 1e3)
    return {name: statistics.median(ms) for name, ms in times.items()}


def forget() -> None:
    """Drop the in-memory choices (tests; the file stays)."""
    with _lock:
        _memory.clear()
