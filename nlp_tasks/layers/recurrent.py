"""``Recurrent``: ``keras.layers.RNN`` with the per-sequence work taken out of the time loop.

``keras.layers.RNN(cell)`` calls the cell once per time step, and our cell, called that way,
slices and transposes its stacked kernel at every step. :class:`Recurrent` forms the transposed
weights once per sequence and runs the loop time-major (transposing only the narrow input and
output tensors). When training, it can compute the input products ``x<t> @ W_x.T + b`` of every
time step in one large matrix product before the loop, so the loop does only the recurrent part
``a<t-1> @ W_a.T``, and for the RNN, GRU (``reset_after``) and LSTM run a hand-written backward
pass (:mod:`nlp_tasks.layers.bptt`); which of these pays is measured on each machine
(:mod:`nlp_tasks.layers.calibration`). It is the same function (tests
check it against ``keras.layers.RNN`` with the same cell), so everything ``keras.layers.RNN``
supports still works: masking, ``return_sequences``, ``return_state``, ``go_backwards``,
``stateful``, ``keras.layers.Bidirectional``.

Cells other than ours, and ``unroll=True``, take the ordinary ``keras.layers.RNN`` path.
"""

from __future__ import annotations

import contextlib
import contextvars

import keras
from keras import ops

from nlp_tasks import _keras_compat
from nlp_tasks.errors import UserError
from nlp_tasks.layers.cells import GRUCell, LSTMCell, MinimalGRUCell, RecurrentCell, RNNCell

# The backend-neutral time loop that keras.layers.RNN itself uses; None (a future Keras that
# moved it): fall back to RNN's loop.
_backend_rnn = _keras_compat.backend_rnn()

_UNKNOWN_LENGTH = 2**31 - 1
CELL_TYPES = {"rnn": RNNCell, "gru": GRUCell, "mingru": MinimalGRUCell, "lstm": LSTMCell}
KERAS_BUILTIN = {"rnn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}
# Set only within keras_builtin_layers(); a context variable, so threads and tasks each see their own.
_builtin = contextvars.ContextVar("nlp_tasks_keras_builtin_layers", default=False)


@contextlib.contextmanager
def keras_builtin_layers():
    """Within this block :func:`recurrent` builds Keras' own ``SimpleRNN``/``GRU``/``LSTM``
    instead of our layers: the same units and options, Keras' defaults otherwise (its GRU is
    the ``reset_after=True`` form, like ours by default). For benchmarks that time a task's
    architecture with Keras' built-in layers; ``mingru`` has no Keras counterpart, and the
    compiled samplers (:mod:`nlp_tasks.decoding.stepper`) need our cells."""
    token = _builtin.set(True)
    try:
        yield
    finally:
        _builtin.reset(token)


@keras.saving.register_keras_serializable(package="nlp_tasks")
class Recurrent(keras.layers.RNN):
    """Run one of our cells over a sequence; same arguments as ``keras.layers.RNN``, plus:

    Args:
        hoist_inputs: compute ``x<t> @ W_x.T + b`` for all time steps before the loop (True),
            or inside the loop with the transposed weights formed once (False). ``None``
            (default): at inference inside the loop (its per-step product overlaps with the
            recurrent one; NER prediction was 1.3x faster, benchmarks/NOTES.md); when
            training, whatever the training path chosen for this machine needs (below).
        fused_backward: when training the Elman RNN, the ``reset_after`` GRU or the LSTM on
            TensorFlow, True runs the loop with the hand-written backpropagation through time
            of :mod:`nlp_tasks.layers.bptt` (the input projection hoisted, unless
            ``hoist_inputs=False``, which turns this off); False lets TensorFlow differentiate
            the loop. Both give the same gradients (tested). ``None`` (default) with
            ``hoist_inputs=None``: the training path (``bptt``, ``hoisted`` or ``loop``) is the
            one measured fastest on this machine for this cell and shape, timed for a moment
            the first time and cached (:mod:`nlp_tasks.layers.calibration`, which also lists
            the overrides). Setting either argument fixes the path instead: ``bptt`` where
            allowed and written, else hoisted for gated cells (unless ``hoist_inputs=False``),
            else the loop.
        fused: run the whole sequence through Keras' fused GRU/LSTM backend function (cuDNN
            on a GPU) with our weights converted in the graph (:mod:`nlp_tasks.layers.fused`).
            ``None`` (default): when a GPU is visible and the layer qualifies (our ``reset_after``
            GRU or our LSTM, not unrolled; a mask must be right-padded, as for Keras' layers).
            True: always (a layer that does not qualify is refused); without a GPU it runs
            Keras' equations on the converted weights in the generic loop. False: our loop.
    """

    def __init__(self, cell, hoist_inputs: bool | None = None, fused_backward: bool | None = None,
                 fused: bool | None = None, **kwargs):
        super().__init__(cell, **kwargs)
        if hoist_inputs not in (None, True, False):
            raise UserError(f"hoist_inputs must be True, False or None, got {hoist_inputs!r}")
        if fused_backward not in (None, True, False):
            raise UserError(f"fused_backward must be True, False or None, got {fused_backward!r}")
        if fused not in (None, True, False):
            raise UserError(f"fused must be True, False or None, got {fused!r}")
        self.hoist_inputs = hoist_inputs
        self.fused_backward = fused_backward
        self.fused = fused
        if fused is True:
            from nlp_tasks.layers.fused import unfused_reason

            reason = unfused_reason(self)
            if reason is not None:
                raise UserError(f"fused=True, but this layer cannot take the fused path: {reason}")

    def _bptt_cell_kind(self) -> str | None:
        """The hand-written BPTT (:mod:`nlp_tasks.layers.bptt`) this layer's cell has, or None:
        the Elman RNN, the ``reset_after`` GRU and the LSTM, on TensorFlow; the classic GRU and
        the minimal GRU use automatic differentiation."""
        cell = self.cell
        if keras.backend.backend() != "tensorflow":
            return None
        if type(cell) is RNNCell:
            return f"rnn_{cell.activation}"
        if type(cell) is GRUCell and cell.reset_after:
            return "gru"
        if type(cell) is LSTMCell:
            return "lstm"
        return None

    def training_path(self, batch=None, steps=None, n_x=None) -> str:
        """``bptt``, ``hoisted`` or ``loop``: how this layer trains on inputs of that shape
        (see ``fused_backward``)."""
        if self.hoist_inputs is None and self.fused_backward is None:
            from nlp_tasks.layers import calibration

            return calibration.training_path(self, batch, steps, n_x or self.cell.input_dim)
        if self.fused_backward is not False and self.hoist_inputs is not False and self._bptt_cell_kind():
            return "bptt"
        hoist = self.hoist_inputs if self.hoist_inputs is not None else self.cell.n_gates > 1
        return "hoisted" if hoist else "loop"

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        if not isinstance(cell, RecurrentCell) or self.unroll or _backend_rnn is None:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        from nlp_tasks.layers import fused

        if fused.takes_fused_path(self):
            return fused.run(self, sequences, initial_state, mask)
        input_weights = cell.input_weights()  # once per sequence, not once per step
        weights = cell.recurrent_weights()
        inputs = ops.transpose(sequences, (1, 0, 2))  # time-major (T, batch, n_x): the narrow tensor
        if not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        if training is True:
            path = self.training_path(sequences.shape[0], sequences.shape[1], sequences.shape[2])
        else:
            path = "hoisted" if self.hoist_inputs else "loop"
        bptt_kind = self._bptt_cell_kind() if path == "bptt" else None
        if bptt_kind is not None:
            from nlp_tasks.layers import bptt

            last, outputs, states = bptt.run(
                bptt_kind, cell.project_inputs(inputs, input_weights), list(initial_state), weights[0],
                extra=weights[1:], mask=None if mask is None else ops.transpose(mask, (1, 0)),
                go_backwards=self.go_backwards, zero_output_for_mask=self.zero_output_for_mask,
            )
            if not self.return_sequences:
                outputs = outputs[-1:]
            return last, ops.transpose(outputs, (1, 0, 2)), states
        if path in ("bptt", "hoisted"):
            inputs = cell.project_inputs(inputs, input_weights)  # (T, batch, G*units), one big matmul

            def step(xw, states):
                return cell.step(xw, states, weights)
        else:

            def step(x, states):  # x: (batch, n_x)
                return cell.step(cell.project_inputs(x, input_weights), states, weights)

        last, outputs, states = _backend_rnn(
            step,
            inputs,
            list(initial_state),
            go_backwards=self.go_backwards,
            mask=None if mask is None else ops.transpose(mask, (1, 0)),
            unroll=False,
            # Keras' loop reads `input_length or inputs.shape[1]`; for time-major inputs that
            # fallback is the *batch* size, which caps the loop at `batch` steps when the batch
            # is fixed (stateful layers) and the length is not. The loop's own condition stops
            # at the real length, so an unknown length gets an upper bound instead.
            input_length=sequences.shape[1] or _UNKNOWN_LENGTH,
            time_major=True,
            zero_output_for_mask=self.zero_output_for_mask,
            return_all_outputs=self.return_sequences,
        )
        return last, ops.transpose(outputs, (1, 0, 2)), states

    def get_config(self):
        return {**super().get_config(), "hoist_inputs": self.hoist_inputs, "fused_backward": self.fused_backward,
                "fused": self.fused}


def recurrent(kind: str, units: int, return_sequences: bool = False, return_state: bool = False,
              go_backwards: bool = False, stateful: bool = False, name: str | None = None,
              fused: bool | None = None, **cell_kwargs) -> Recurrent:
    """Build ``Recurrent(<cell>)`` by name: ``kind`` is ``rnn``, ``gru``, ``mingru`` or ``lstm``.

    >>> layer = recurrent("gru", 64, return_sequences=True)   # doctest: +SKIP
    """
    from nlp_tasks.errors import UserError

    if kind not in CELL_TYPES:
        raise UserError(f"unknown cell type {kind!r}; choose one of {', '.join(CELL_TYPES)}")
    if _builtin.get():
        if kind not in KERAS_BUILTIN or cell_kwargs:
            raise UserError(f"Keras has no built-in layer for {kind!r} with options {cell_kwargs}")
        layer = getattr(keras.layers, KERAS_BUILTIN[kind])
        return layer(units, return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards,
                     stateful=stateful, name=name)
    cell = CELL_TYPES[kind](units, **cell_kwargs)
    return Recurrent(cell, return_sequences=return_sequences, return_state=return_state,
                     go_backwards=go_backwards, stateful=stateful, name=name, fused=fused)


def path_summary(gpu: bool | None = None) -> dict:
    """For ``nlp-tasks info``: which path each cell kind takes on this device by default."""
    from nlp_tasks.layers.fused import gpu_visible, unfused_reason

    gpu = gpu_visible() if gpu is None else gpu
    summary = {}
    for kind in ("rnn", "gru", "mingru", "lstm"):
        layer = recurrent(kind, 4)
        reason = unfused_reason(layer)
        if reason is None and gpu:
            summary[kind] = "fused (cuDNN through Keras)"
        else:
            summary[kind] = "our time loop" + (f" ({reason})" if reason else " (no GPU visible)")
    return summary
