"""Small timing probes behind some entries of benchmarks/NOTES.md (experiments, not benchmarks).

    .venv/bin/python benchmarks/probes.py ops            # cost of one op inside a tf.while_loop
    .venv/bin/python benchmarks/probes.py gate-xla       # GRU gate arithmetic compiled with XLA, or not
    .venv/bin/python benchmarks/probes.py bidirectional  # two GRU loops (one per direction) or one
    .venv/bin/python benchmarks/probes.py block-lstm     # TensorFlow's fused BlockLSTMV2 kernel vs ours
    .venv/bin/python benchmarks/probes.py ner-batch      # NER training throughput at batch 32, 64, 128
    .venv/bin/python benchmarks/probes.py malloc         # NER training with glibc malloc tuned or not
    .venv/bin/python benchmarks/probes.py grad-ops       # bptt's derivatives: fused SigmoidGrad/TanhGrad or not
    .venv/bin/python benchmarks/probes.py ner-xla --round 8  # NER training steps under XLA, or not
    .venv/bin/python benchmarks/probes.py paths          # each training path of our layers vs Keras' layer

Each prints medians over interleaved rounds (ms, or us per loop iteration). Nothing is written:
the figures go to NOTES.md by hand, with the command.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nlp_tasks.runtime import import_tensorflow  # noqa: E402

tf = import_tensorflow()
import keras  # noqa: E402

from benchmarks import cells  # noqa: E402


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
            tf.nest.map_structure(lambda v: v.numpy() if hasattr(v, "numpy") else v, out)  # wait for the work
            times[name].append((time.perf_counter() - t0) / calls * 1e3 / per)
    return {name: statistics.median(v) for name, v in times.items()}


def probe_ops(rounds: int) -> None:
    """One op per iteration of a 50-step tf.while_loop, at the small cell shape (batch 32,
    128 units, the LSTM's 4 gates) and the large one (batch 64, 256 units, the GRU's 3 gates)."""
    steps = 50
    for batch, units, gates in ((32, 128, 4), (64, 256, 3)):
        h, wide = tf.random.normal((batch, units)), tf.random.normal((batch, gates * units))
        w = tf.random.normal((units, gates * units)) * 0.01
        bodies = {
            "empty body (identity)": (lambda v: tf.identity(v), h),
            f"add, {tuple(h.shape)}": (lambda v: v + 1.0, h),
            f"sigmoid, {tuple(h.shape)}": (tf.sigmoid, h),
            f"sigmoid, {tuple(wide.shape)}": (tf.sigmoid, wide),
            f"tanh, {tuple(wide.shape)}": (tf.tanh, wide),
            f"sigmoid as 0.5 * tanh(0.5 x) + 0.5, {tuple(wide.shape)}": (lambda v: 0.5 * tf.tanh(0.5 * v) + 0.5, wide),
            f"split {gates * units} -> {(gates - 1) * units}, {units}, add":
                (lambda v: tf.concat([a + 1.0 if i == 0 else a for i, a in
                                      enumerate(tf.split(v, [(gates - 1) * units, units], -1))], -1), wide),
            f"concat 3 x {tuple(h.shape)}": (lambda v: tf.concat([v, v, v], -1)[:, :units], h),
            f"matmul {tuple(h.shape)} @ {tuple(w.shape)}": (lambda v: tf.matmul(v, w)[:, :units], h),
        }

        def loop(body, start):
            return tf.function(lambda: tf.while_loop(lambda i, v: i < steps, lambda i, v: (i + 1, body(v)),
                                                     (0, start))[1])

        result = interleaved({name: loop(*spec) for name, spec in bodies.items()}, rounds, 10, per=steps / 1e3)
        for name, us in result.items():
            print(f"{name:52s} {us:7.1f} us per iteration")


def _traced_step(kind: str, shape):
    """benchmarks/cells.py's training step (our ``kind`` layer + Dense(1), Adam, seed 0), called
    once so that it is traced now, with whatever ``bptt`` functions are patched in at this moment."""
    keras.utils.set_random_seed(0)  # the layer draws its initializers' seeds when it is made
    step = cells.make_contender(cells.recurrent(kind, shape[3]), shape, "tf_function", 0)
    step()
    return step


def probe_gate_xla(rounds: int) -> None:
    """A GRU training step with the hand-written BPTT, its elementwise gate work compiled with
    XLA (one cluster per step, forward and backward) or left to TensorFlow's executor."""
    from nlp_tasks.layers import bptt

    plain = bptt._gru_forward, bptt._gru_backward
    forward_xla = tf.function(lambda x, rec, h, b: _gru_gates(x, rec, h, b), jit_compile=True)
    backward_xla = tf.function(lambda g, saved, h: plain[1]((g,), saved, (h,), ()), jit_compile=True)

    def xla_forward(x, states, w_t, extra):
        h_new, saved = forward_xla(x, tf.matmul(states[0], w_t), states[0], extra[0])
        return (h_new,), saved

    def xla_backward(g, saved, prev, extra):
        return backward_xla(g[0], saved, prev[0])

    for shape in cells.SHAPES[::-1]:  # small, then large
        def make(functions):
            bptt._gru_forward, bptt._gru_backward = functions
            return _traced_step("gru", shape)

        steps_fns = {"gates under XLA": make((xla_forward, xla_backward)), "plain": make(plain)}
        bptt._gru_forward, bptt._gru_backward = plain
        result = interleaved(steps_fns, rounds, 5)
        print(f"GRU {shape}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in result.items()))


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


def probe_block_lstm(rounds: int) -> None:
    """An LSTM training step (layer + Dense(1), Adam): ours, Keras' LSTM, and TensorFlow's fused
    C++ sequence kernel ``BlockLSTMV2`` (one op for the whole loop, gradient ``BlockLSTMGradV2``)."""
    class BlockLSTM(keras.layers.Layer):
        def __init__(self, units):
            super().__init__()
            self.units = units

        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1] + self.units, 4 * self.units), initializer="glorot_uniform")
            self.b = self.add_weight(shape=(4 * self.units,), initializer="zeros")

        def call(self, x):
            zeros, no_peephole = tf.zeros((tf.shape(x)[0], self.units)), tf.zeros((self.units,))
            h = tf.raw_ops.BlockLSTMV2(seq_len_max=tf.cast(tf.shape(x)[1], tf.int64), x=tf.transpose(x, [1, 0, 2]),
                                       cs_prev=zeros, h_prev=zeros, w=self.w, wci=no_peephole, wcf=no_peephole,
                                       wco=no_peephole, b=self.b, cell_clip=0.0, use_peephole=False)[-1]
            return h[-1]

    for shape in cells.SHAPES[::-1]:  # small, then large
        units = shape[3]
        steps = {"ours": cells.make_contender(cells.recurrent("lstm", units), shape, "tf_function", 1),
                 "keras.layers.LSTM": cells.make_contender(keras.layers.LSTM(units), shape, "tf_function", 1),
                 "BlockLSTMV2": cells.make_contender(BlockLSTM(units), shape, "tf_function", 1)}
        result = interleaved(steps, rounds, 5)
        print(f"LSTM {shape}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in result.items()))


def probe_ner_xla(rounds: int, batches: int, round_to: int) -> None:
    """NER (the default model, CoNLL-2003) training steps on the first ``batches`` length-bucketed
    training batches, with the train step compiled by XLA or not. ``round_to`` pads each batch's
    length and word width up to a multiple (fewer distinct shapes, so fewer XLA compilations).
    One epoch of ordinary training comes first, to build the vocabularies and the model."""
    import numpy as np

    from nlp_tasks import _keras_compat
    from nlp_tasks.io.paths import data_dir
    from tasks.ner import NERConfig, NERPipeline, read_sentences

    pipe = NERPipeline(NERConfig(epochs=1, word_dropout=0.2))
    train = data_dir() / "conll2003" / "train.txt"
    pipe.fit(train, None, verbose=0)
    model = pipe.model
    dataset = pipe.batches(read_sentences(train, "train", pipe.config.scheme), shuffle=True).dataset()

    def padded(batch):
        (words, cases, chars), y = (tuple(v.numpy() for v in batch[0]), batch[1].numpy())
        if round_to > 1:
            up = lambda n: -(-n // round_to) * round_to  # noqa: E731
            t, w = up(words.shape[1]) - words.shape[1], up(chars.shape[2]) - chars.shape[2]
            words, cases = (np.pad(a, ((0, 0), (0, t))) for a in (words, cases))
            chars = np.pad(chars, ((0, 0), (0, t), (0, w)))
            y = np.pad(y, ((0, 0), (0, t)), constant_values=-1)
        return (words, cases, chars), y

    data = [padded(b) for b, _ in zip(dataset, range(batches))]
    shapes = {tuple(a.shape for a in x) for x, _ in data}
    print(f"{len(data)} batches, {len(shapes)} distinct shapes (round to {round_to or 1})", flush=True)
    _keras_compat.disable_op_determinism()  # Keras refuses XLA under op determinism (the tasks' default)
    functions = {}
    for jit in (False, True):
        model.jit_compile = jit
        functions["XLA" if jit else "plain"] = model.make_train_function(force=True)
        assert model.jit_compile is jit, "Keras refused jit_compile"

    def run(name):
        model.train_function = functions[name]
        for x, y in data:
            model.train_on_batch(x, y)

    for name in functions:  # the first pass traces (and compiles, under XLA) every shape
        start = time.perf_counter()
        run(name)
        print(f"first pass, {name}: {time.perf_counter() - start:.1f} s", flush=True)
    result = interleaved({name: (lambda name=name: run(name)) for name in functions}, rounds, 1)
    print("steady state, s per pass: " + ", ".join(f"{k} {v / 1e3:.2f}" for k, v in result.items()))


def _gru_backward_fused(g, saved, prev, extra):
    """bptt._gru_backward with the gate derivatives as TensorFlow's fused SigmoidGrad/TanhGrad ops
    (one op each instead of two or three elementwise products)."""
    (gh,), (h,) = g, prev
    u, r, n, hc = tf.split(saved, 4, axis=-1)
    dn = gh * u
    dzn = tf.raw_ops.TanhGrad(y=n, dy=dn)
    dzu = tf.raw_ops.SigmoidGrad(y=u, dy=gh * (n - h))
    dzr = tf.raw_ops.SigmoidGrad(y=r, dy=dzn * hc)
    d_hc = dzn * r
    return (tf.concat([dzu, dzr, dzn], axis=-1), tf.concat([dzu, dzr, d_hc], axis=-1), (gh - dn,), d_hc)


def _lstm_backward_fused(g, saved, prev, extra):
    """bptt._lstm_backward with fused derivative ops (see _gru_backward_fused)."""
    (ga, gc), (_, c_prev) = g, prev
    u, f, cand, o, tc = tf.split(saved, 5, axis=-1)
    dc = gc + tf.raw_ops.TanhGrad(y=tc, dy=ga * o)
    dz = tf.concat([tf.raw_ops.SigmoidGrad(y=u, dy=dc * cand), tf.raw_ops.SigmoidGrad(y=f, dy=dc * c_prev),
                    tf.raw_ops.TanhGrad(y=cand, dy=dc * u), tf.raw_ops.SigmoidGrad(y=o, dy=ga * tc)], axis=-1)
    return dz, dz, (tf.zeros_like(ga), dc * f), None


def probe_grad_ops(rounds: int) -> None:
    """A training step (layer + Dense(1), Adam) with bptt's backward step as it is (the gate
    derivatives as products of elementwise ops) or with TensorFlow's fused SigmoidGrad/TanhGrad."""
    from nlp_tasks.layers import bptt

    variants = {"gru": ("_gru_backward", _gru_backward_fused), "lstm": ("_lstm_backward", _lstm_backward_fused)}
    for kind, (name, fused) in variants.items():
        products = getattr(bptt, name)
        for shape in cells.SHAPES[::-1]:  # small, then large
            def make(backward):
                setattr(bptt, name, backward)
                return _traced_step(kind, shape)

            fns = {"fused grad ops": make(fused), "products": make(products)}
            setattr(bptt, name, products)
            # Same seed, one Adam update each so far: the losses agree if the gradients do.
            losses = [float(f()) for f in fns.values()]
            assert abs(losses[0] - losses[1]) <= 1e-4 * max(1.0, abs(losses[1])), losses
            result = interleaved(fns, rounds, 5)
            print(f"{kind.upper()} {shape}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in result.items()), flush=True)


def probe_ner_batch(rounds: int) -> None:
    """NER (the default model, CoNLL-2003) training throughput at several batch sizes, with the
    task's length bucketing: one model, each size's batches of one epoch cut into 8 chunks, and
    ``rounds`` chunks (at most 8) timed per size, alternating size from chunk to chunk. One
    epoch of ordinary training comes first, to build the vocabularies and the model."""
    from nlp_tasks.io.paths import data_dir
    from tasks.ner import NERConfig, NERPipeline, read_sentences

    pipe = NERPipeline(NERConfig(epochs=1, word_dropout=0.2))
    train = data_dir() / "conll2003" / "train.txt"
    pipe.fit(train, None, verbose=0)
    sentences = read_sentences(train, "train", pipe.config.scheme)
    chunks, config = {}, pipe.config
    for size in (32, 64, 128):
        pipe.config = dataclasses.replace(config, batch_size=size)
        batches = [(x, y) for x, y in pipe.batches(sentences, shuffle=True)]
        chunks[size] = [batches[i::8] for i in range(8)]
    pipe.config = config
    seconds, examples = {s: 0.0 for s in chunks}, {s: 0 for s in chunks}
    for size, parts in chunks.items():  # trace: the first chunk of each size, untimed
        for x, y in parts[0]:
            pipe.model.train_on_batch(x, y)
    for k in range(1, min(rounds, 7) + 1):
        order = list(chunks) if k % 2 else list(reversed(chunks))
        for size in order:
            start = time.perf_counter()
            for x, y in chunks[size][k]:
                pipe.model.train_on_batch(x, y)
            seconds[size] += time.perf_counter() - start
            examples[size] += sum(int(y.shape[0]) for _, y in chunks[size][k])
    for size in chunks:
        print(f"batch {size:4d}: {examples[size] / seconds[size]:6.0f} sentences/s "
              f"({examples[size]} sentences in {seconds[size]:.1f} s)")


def probe_malloc(rounds: int, sentences: int = 4000, epochs: int = 4) -> None:
    """``cli.py ner train`` on the first ``sentences`` sentences of CoNLL-2003 train for ``epochs``
    epochs, in fresh processes, with glibc's malloc tuned (the default, nlp_tasks.runtime) or
    left alone (``NLP_TASKS_MALLOC=system``), alternating; wall, user and system seconds, the
    epochs' times as Keras prints them, and peak memory, per process."""
    import os
    import re
    import subprocess
    import tempfile

    from nlp_tasks.io.paths import data_dir

    root = Path(__file__).resolve().parent.parent
    text = (data_dir() / "conll2003" / "train.txt").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        train = Path(tmp) / "train.txt"
        train.write_text("\n\n".join(text.split("\n\n")[:sentences]) + "\n", encoding="utf-8")
        results = {"tuned": [], "system": []}
        for r in range(rounds):
            for mode in (("tuned", "system") if r % 2 == 0 else ("system", "tuned")):
                env = dict(os.environ, NLP_TASKS_MALLOC=mode)
                start = time.perf_counter()
                proc = subprocess.Popen([sys.executable, str(root / "cli.py"), "ner", "train", "--train", str(train),
                                         "--out", str(Path(tmp) / f"{mode}-{r}"), "--epochs", str(epochs)],
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                output = proc.stdout.read()
                proc.stdout.close()
                _, status, usage = os.wait4(proc.pid, 0)  # this child's own resource usage
                proc.returncode = os.waitstatus_to_exitcode(status)
                wall = time.perf_counter() - start
                if proc.returncode:
                    raise SystemExit(f"{mode} run failed:\n{output[-2000:]}")
                epochs_s = [int(x) for x in re.findall(r" - (\d+)s - ", output)]
                results[mode].extend(epochs_s[1:])  # the first epoch also traces the graphs
                print(f"round {r + 1}, {mode:6s}: {wall:6.1f} s wall, epochs {epochs_s} s, {usage.ru_utime:.1f} s "
                      f"user, {usage.ru_stime:.1f} s system, peak {usage.ru_maxrss / 1024:.0f} MB", flush=True)
        print("median epoch after the first: " + ", ".join(f"{k} {statistics.median(v):.1f} s"
                                                          for k, v in results.items()))


def probe_paths(rounds: int, kinds: str = "rnn,gru,lstm") -> None:
    """benchmarks/cells.py's training step for each path our layer can take on a CPU (the
    hand-written BPTT, automatic differentiation of the loop with the input projection hoisted
    or inside the loop) and for Keras' own layer, interleaved; median ms and the per-round
    ratio to Keras, at the cells benchmark's two shapes."""
    from nlp_tasks.layers import Recurrent, calibration
    from nlp_tasks.layers.recurrent import CELL_TYPES

    labels = {"bptt": "bptt (hoisted, hand-written backward)", "hoisted": "autodiff, hoisted",
              "loop": "autodiff, projection in the loop"}

    for shape in cells.SHAPES:
        for kind in kinds.split(","):
            steps = {}
            for path, name in labels.items():
                keras.utils.set_random_seed(0)
                layer = Recurrent(CELL_TYPES[kind](shape[3]), **calibration.path_options(path))
                steps[name] = cells.make_contender(layer, shape, "tf_function", 0)
            steps["keras"] = cells.make_contender(cells.KERAS_LAYERS[kind](shape[3]), shape, "tf_function", 0)
            per_round = {name: [] for name in steps}
            for r in range(rounds):
                names = list(steps)[r % len(steps):] + list(steps)[:r % len(steps)]
                if r == 0:
                    for name in names:
                        steps[name](), steps[name]()  # trace, warm
                for name in names:
                    per_round[name].append(cells.time_block(steps[name], 5))
            print(f"{kind} {shape}:")
            for name, ms in per_round.items():
                ratio = statistics.median(a / b for a, b in zip(ms, per_round["keras"]))
                print(f"  {name:40s} {statistics.median(ms):7.2f} ms ({min(ms):.2f}-{max(ms):.2f})  /keras {ratio:.3f}",
                      flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("probe", choices=("ops", "gate-xla", "bidirectional", "block-lstm", "ner-xla", "grad-ops",
                                          "ner-batch", "malloc", "paths"))
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batches", type=int, default=30, help="ner-xla: training batches per pass")
    parser.add_argument("--round", type=int, default=0, help="ner-xla: pad lengths up to a multiple of this")
    args = parser.parse_args(argv)
    if args.probe == "ner-xla":
        probe_ner_xla(args.rounds, args.batches, args.round)
        return
    {"ops": probe_ops, "gate-xla": probe_gate_xla, "bidirectional": probe_bidirectional,
     "block-lstm": probe_block_lstm, "grad-ops": probe_grad_ops,
     "ner-batch": probe_ner_batch, "malloc": probe_malloc, "paths": probe_paths}[args.probe](args.rounds)


if __name__ == "__main__":
    main()
