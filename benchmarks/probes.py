"""Small timing probes behind some entries of benchmarks/NOTES.md (experiments, not benchmarks).

    .venv/bin/python benchmarks/probes.py ops            # cost of one op inside a tf.while_loop
    .venv/bin/python benchmarks/probes.py gate-xla       # GRU gate arithmetic compiled with XLA, or not
    .venv/bin/python benchmarks/probes.py bidirectional  # two GRU loops (one per direction) or one

Each prints medians over interleaved rounds (ms, or us per loop iteration). Nothing is written:
the figures go to NOTES.md by hand, with the command.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nlp_tasks.runtime import import_tensorflow  # noqa: E402

tf = import_tensorflow()
import keras  # noqa: E402


def interleaved(functions: dict, rounds: int, calls: int, per: float = 1.0) -> dict:
    """Median ms per call (divided by ``per``) of each function, the order alternating by round."""
    for f in functions.values():
        f(), f()  # trace, warm
    times = {name: [] for name in functions}
    for r in range(rounds):
        order = list(functions.items()) if r % 2 == 0 else list(reversed(functions.items()))
        for name, f in order:
            t0 = time.perf_counter()
            for _ in range(calls):
                out = f()
            tf.nest.map_structure(lambda v: v.numpy(), out)  # wait for the work
            times[name].append((time.perf_counter() - t0) / calls * 1e3 / per)
    return {name: statistics.median(v) for name, v in times.items()}


def probe_ops(rounds: int) -> None:
    """One op per iteration of a 50-step tf.while_loop at the small cell shape (batch 32, 128 units)."""
    batch, units, steps = 32, 128, 50
    h, wide = tf.random.normal((batch, units)), tf.random.normal((batch, 4 * units))
    w4 = tf.random.normal((units, 4 * units)) * 0.01
    bodies = {
        "empty body (identity)": (lambda v: tf.identity(v), h),
        "add, (32, 128)": (lambda v: v + 1.0, h),
        "sigmoid, (32, 128)": (tf.sigmoid, h),
        "sigmoid, (32, 512)": (tf.sigmoid, wide),
        "matmul (32, 128) @ (128, 512)": (lambda v: tf.matmul(v, w4)[:, :units], h),
    }

    def loop(body, start):
        return tf.function(lambda: tf.while_loop(lambda i, v: i < steps, lambda i, v: (i + 1, body(v)),
                                                 (0, start))[1])

    result = interleaved({name: loop(*spec) for name, spec in bodies.items()}, rounds, 10, per=steps / 1e3)
    for name, us in result.items():
        print(f"{name:32s} {us:7.1f} us per iteration")


def probe_gate_xla(rounds: int) -> None:
    """A GRU training step with the hand-written BPTT, its elementwise gate work compiled with
    XLA (one cluster per step, forward and backward) or left to TensorFlow's executor."""
    from nlp_tasks.layers import bptt, recurrent

    plain = bptt._gru_forward, bptt._gru_backward
    forward_xla = tf.function(lambda x, rec, h, b: _gru_gates(x, rec, h, b), jit_compile=True)
    backward_xla = tf.function(lambda g, saved, h: plain[1]((g,), saved, (h,), ()), jit_compile=True)

    def xla_forward(x, states, w_t, extra):
        h_new, saved = forward_xla(x, tf.matmul(states[0], w_t), states[0], extra[0])
        return (h_new,), saved

    def xla_backward(g, saved, prev, extra):
        return backward_xla(g[0], saved, prev[0])

    for batch, steps, n_x, units in ((32, 50, 64, 128), (64, 100, 128, 256)):
        def make(functions):
            bptt._gru_forward, bptt._gru_backward = functions
            keras.utils.set_random_seed(0)
            model = keras.Sequential([keras.Input((steps, n_x)), recurrent("gru", units), keras.layers.Dense(1)])
            optimizer = keras.optimizers.Adam()
            optimizer.build(model.trainable_variables)
            x, y = tf.random.normal((batch, steps, n_x)), tf.random.normal((batch, 1))

            @tf.function
            def step():
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean((model(x, training=True) - y) ** 2)
                optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
                return loss

            step()  # traced with these functions
            return step

        steps_fns = {"gates under XLA": make((xla_forward, xla_backward)), "plain": make(plain)}
        bptt._gru_forward, bptt._gru_backward = plain
        result = interleaved(steps_fns, rounds, 5)
        print(f"GRU {batch, steps, n_x, units}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in result.items()))


def _gru_gates(x, rec, h, b_cr):
    """bptt._gru_forward's arithmetic after the recurrent product ``rec = h @ W_a.T``."""
    units = h.shape[-1]
    x_ur, x_c = tf.split(x, [2 * units, units], axis=-1)
    rec_ur, rec_c = tf.split(rec, [2 * units, units], axis=-1)
    ur = tf.sigmoid(x_ur + rec_ur)
    u, r = tf.split(ur, 2, axis=-1)
    hc = rec_c + b_cr
    n = tf.tanh(x_c + r * hc)
    return h + u * (n - h), tf.concat([ur, n, hc], axis=-1)


def probe_bidirectional(rounds: int) -> None:
    """The GRU forward loop over both directions: two tf.while_loops (as Bidirectional runs
    them) or one loop over a (2, batch, units) state with a batched matmul."""
    for batch, steps, units in ((32, 25, 200), (700, 10, 50), (64, 100, 256)):
        xw_f, xw_b = tf.random.normal((steps, batch, 3 * units)), tf.random.normal((steps, batch, 3 * units))
        w, w2 = tf.random.normal((units, 3 * units)) * 0.05, tf.random.normal((2, units, 3 * units)) * 0.05

        def loop(xw, h0, w):
            xs = tf.TensorArray(tf.float32, size=steps).unstack(xw)
            out = tf.TensorArray(tf.float32, size=steps)

            def body(t, h, out):
                h_new, _ = _gru_gates(xs.read(t), tf.matmul(h, w), h, 0.0)
                return t + 1, h_new, out.write(t, h_new)

            return tf.while_loop(lambda t, *_: t < steps, body, (0, h0, out))[2].stack()

        two = tf.function(lambda: (loop(xw_f, tf.zeros((batch, units)), w),
                                   loop(tf.reverse(xw_b, [0]), tf.zeros((batch, units)), w)))
        one = tf.function(lambda: loop(tf.stack([xw_f, tf.reverse(xw_b, [0])], 1), tf.zeros((2, batch, units)), w2))
        result = interleaved({"two loops": two, "one loop, batched matmul": one}, rounds, 10)
        print(f"BiGRU forward {batch, steps, units}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in result.items()))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("probe", choices=("ops", "gate-xla", "bidirectional"))
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args(argv)
    {"ops": probe_ops, "gate-xla": probe_gate_xla, "bidirectional": probe_bidirectional}[args.probe](args.rounds)


if __name__ == "__main__":
    main()
