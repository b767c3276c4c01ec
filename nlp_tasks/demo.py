"""``make demo``: run every registered task's demo end to end, outputs under ``demo-output/``.

Each task registers a ``demo(out_dir)`` function in ``tasks.REGISTRY``; this runner calls them
in order. Before any task exists, it still does real work that needs no data: it checks each of
our recurrent cells against the NumPy reference (forward values and BPTT gradients) and writes
the device summary and those checks to ``demo-output/``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from nlp_tasks.errors import UserError
from nlp_tasks.paths import atomic_write


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        from nlp_tasks.runtime import device_summary

        import tasks

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
        demos = [(name, entry.demo) for name, entry in tasks.REGISTRY.items() if entry.demo]
        if not demos:
            print("no task yet: the task pipelines (ner, sentiment, charlm, music) add their demos here")
        for name, target in demos:
            print(f"== {name} ==")
            # A demo is a fresh run: an earlier run's checkpoint would be resumed (or refused).
            shutil.rmtree(out / name, ignore_errors=True)
            tasks.resolve(target)(out / name)
        print(f"outputs in {out}/")
    except UserError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
