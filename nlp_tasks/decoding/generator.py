"""Generation in one compiled graph: primer, time steps, draw and stop inside a ``tf.while_loop``.

:class:`nlp_tasks.decoding.stepper.RecurrentStepper` runs one compiled step per call, and the Python
loop around it draws each token in NumPy. One stream is then dispatch-bound: the per-call
overhead, the loop and the draw cost more than the step's arithmetic. :class:`GraphGenerator`
puts the whole loop in the graph, compiled with XLA once per shape:

    a<0> = 0;  read the primer x<1..P-1> (a<t> advances);  x = x<P>
    for t in 0 .. steps-1 (while some stream has not stopped):
        y<t>, a<t> = step(x, a<t-1>);   x = draw(t, y<t>, keys);   out[t] = x

``draw`` is graph code the caller supplies (a token from the logits, a frame of 88 keys); its
random numbers come from :func:`nlp_tasks.decoding.sampling.stream_uniforms` with each stream's key and
the step ``t``, so a stream's output depends on its key alone, not on its batch position or on
the other streams. Lengths are rounded up to powers of two for the compiled shapes, so a new
length within the same bucket reuses the compiled loop.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from nlp_tasks.decoding.stepper import stack_step, stacked_weights, zero_state

MIN_BUCKET = 16


def bucket(n: int) -> int:
    """The compiled size for ``n`` steps: the next power of two, at least :data:`MIN_BUCKET`."""
    return max(MIN_BUCKET, 1 << (int(n) - 1).bit_length())


class GraphGenerator:
    """``generator(inputs, steps, keys) -> drawn (T, n, ...)``, the loop of the module docstring.

    Args:
        cells: our recurrent cells, bottom to top.
        output: the layer applied to the top cell's a<t> (logits, a NADE's biases).
        draw: ``draw(t, outputs, keys) -> next inputs``, graph ops, in the inputs' dtype.
        stop: ``stop(drawn) -> (n,) bool``, True for a stream that has ended (it is kept
            running, so shapes stay fixed); the loop ends when every stream has. None: never.
        features: applied to the raw step inputs first (token ids -> x<t>); None passes them on.
        input_dtype: dtype of the raw inputs.
        jit_compile: compile the loop with XLA (``benchmarks/charlm.py`` measures it).
    """

    def __init__(self, cells, output, draw: Callable, stop: Callable | None = None, features=None,
                 input_dtype: str = "float32", jit_compile: bool = True):
        import tensorflow as tf

        self.cells, self.input_dtype = list(cells), input_dtype
        cells = self.cells

        def generate(primer, primer_length, steps, keys, capacity):
            # The weights are read here, once per call, so a generator follows further training.
            step = stack_step(cells, output, features, stacked_weights(cells))
            n = tf.shape(keys)[0]

            def read(i, states):  # the primer's inputs but the last only advance a<t>
                _, states = step(primer[i], states)
                return i + 1, states

            _, states = tf.while_loop(lambda i, _: i < primer_length - 1, read,
                                      (tf.constant(0), zero_state(cells, n)))
            current = tf.gather(primer, primer_length - 1)
            drawn = tf.TensorArray(primer.dtype, size=capacity, element_shape=current.shape)
            done = tf.zeros([n], tf.bool)

            def more(t, current, states, drawn, done):
                going = t < steps
                return going if stop is None else tf.logical_and(going, tf.logical_not(tf.reduce_all(done)))

            def body(t, current, states, drawn, done):
                outputs, states = step(current, states)
                current = tf.cast(draw(t, outputs, keys), primer.dtype)
                if stop is not None:
                    done = tf.logical_or(done, stop(current))
                return t + 1, current, states, drawn.write(t, current), done

            t, _, _, drawn, _ = tf.while_loop(more, body, (tf.constant(0), current, states, drawn, done),
                                              maximum_iterations=capacity)
            return drawn.stack(), t

        self._generate = tf.function(generate, jit_compile=jit_compile, reduce_retracing=True)

    def __call__(self, inputs, steps: int, keys) -> np.ndarray:
        """``inputs (P, n, ...)``: x<1> and the primer's inputs (P >= 1); ``keys (n,)`` uint32.
        Returns the drawn inputs ``(T, n, ...)`` as NumPy, T = ``steps`` unless every stream stopped."""
        import tensorflow as tf

        inputs = np.asarray(inputs, dtype=self.input_dtype)
        length = len(inputs)
        padded = np.zeros((bucket(length), *inputs.shape[1:]), dtype=self.input_dtype)
        padded[:length] = inputs  # fixed shapes for XLA: rows past the primer are never read
        drawn, t = self._generate(tf.constant(padded), tf.constant(length), tf.constant(steps),
                                  tf.constant(np.asarray(keys, np.uint32)), bucket(steps))
        return drawn.numpy()[:int(t)]
