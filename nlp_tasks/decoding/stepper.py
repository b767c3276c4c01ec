"""One compiled recurrent time step of a stack of our cells, for generation.

Generating a sequence means: run one step, choose an output, feed it back in as the next
input. ``RecurrentStepper`` turns a trained model's layers into ``step(inputs, states) ->
(outputs, states)``, a ``tf.function`` for a batch of streams that keeps the states a<t>
between calls, so generation never re-reads the prefix and never calls ``model.predict`` per
step. The language model and the music model both use it.
"""

from __future__ import annotations

import numpy as np


def stacked_weights(cells) -> list:
    """Each cell's transposed weight blocks ``(input half, recurrent half)``, formed once per
    generation rather than at every step."""
    return [(cell.input_weights(), cell.recurrent_weights()) for cell in cells]


def stack_step(cells, output, features, weights):
    """``step(inputs, states) -> (output(a<t> of the top cell), states)``: one time step of the
    stack, as graph ops (``weights`` from :func:`stacked_weights`)."""
    sizes = [cell.N_STATES for cell in cells]

    def step(inputs, states):
        x = features.call(inputs) if features is not None else inputs  # x<t>: (n, d)
        new_states, k = [], 0
        for cell, size, (w_in, w_rec) in zip(cells, sizes, weights):
            # a<t> = cell(W_x x<t> + b, a<t-1>): (n, units)
            a, cell_states = cell.step(cell.project_inputs(x, w_in), list(states[k:k + size]), w_rec)
            new_states.extend(cell_states)
            x, k = a, k + size
        return output(x), tuple(new_states)

    return step


def zero_state(cells, n):
    """a<0> = 0 for ``n`` streams (a Python int or a scalar tensor)."""
    import tensorflow as tf

    return tuple(tf.zeros((n, cell.units), dtype=cell.compute_dtype) for cell in cells for _ in range(cell.N_STATES))


class RecurrentStepper:
    """``step(inputs (n, ...), states) -> (outputs (n, ...) as NumPy, states)``.

    Args:
        cells: our recurrent cells, bottom to top (``model.get_layer(name).cell``).
        output: the layer applied to the top cell's a<t> (the logits layer).
        features: applied to the raw step inputs first (token ids -> x<t>); None passes them on.
        input_dtype: dtype the raw inputs are converted to.
        jit_compile: compile the step with XLA, which fuses its few dozen small ops (one token
            of one stream is dispatch-bound, not arithmetic-bound). ``benchmarks/charlm.py``
            measures both settings in the same run.
    """

    def __init__(self, cells, output, features=None, input_dtype="float32", jit_compile: bool = True):
        import tensorflow as tf

        self.cells = list(cells)
        self.input_dtype = input_dtype
        # The transposed weight blocks, formed once here rather than at every step. Rebuild the
        # stepper after the weights change.
        step = stack_step(self.cells, output, features, stacked_weights(self.cells))
        self._step = tf.function(step, reduce_retracing=True, jit_compile=jit_compile)

    def zero_state(self, n: int):
        """a<0> = 0 for ``n`` streams."""
        return zero_state(self.cells, n)

    def __call__(self, inputs, states):
        import tensorflow as tf

        outputs, states = self._step(tf.constant(np.asarray(inputs, dtype=self.input_dtype)), states)
        return outputs.numpy(), states

    @staticmethod
    def reorder(states, indices):
        """States of the streams ``indices`` (beam search keeps the best hypotheses)."""
        import tensorflow as tf

        return tuple(tf.gather(s, indices) for s in states)


def run_generation(step: RecurrentStepper, inputs: list, n: int, length: int, draw, stop=None) -> list:
    """The one generation loop (language model and music): primer -> compiled step -> draw.

    ``inputs`` are the first step inputs of ``n`` streams: x<1> (``<bos>``, the silent frame),
    then the primer's; all but the last only advance a<t>. Then ``length`` times: one ``step``,
    ``draw(t, outputs)`` chooses the next inputs (a sampled token, a drawn frame), which are fed
    back in. Returns the drawn inputs, one array per step; ``stop(drawn)`` returning True ends
    the loop early (every stream reached ``<eos>``)."""
    states = step.zero_state(n)
    for x in inputs[:-1]:  # read the primer: a<t> advances, the predictions are not needed
        _, states = step(x, states)
    current, drawn = inputs[-1], []
    for t in range(length):
        outputs, states = step(current, states)
        current = draw(t, outputs)
        drawn.append(current)
        if stop is not None and stop(current):
            break
    return drawn
