"""Our recurrent cells, written with the course's equations and notation.

Each cell is a small Keras layer: ``call(x<t>, [a<t-1>]) -> (a<t>, [a<t>])`` for one time step.
Run a whole sequence with ``keras.layers.RNN(cell)`` (masking, ``return_sequences``,
``return_state``, ``go_backwards``, ``stateful`` and ``keras.layers.Bidirectional`` all work)
or with :class:`nlp_tasks.layers.Recurrent`, a drop-in subclass of ``keras.layers.RNN`` that
computes the same thing faster (see ``recurrent.py``).

Weights follow the course: every gate ``g`` has a stacked matrix ``W_g = [W_ga | W_gx]`` of
shape ``(units, units + n_x)`` applied to the column ``[a<t-1>; x<t>]``. A cell with ``G``
gates keeps them in one ``kernel`` of shape ``(G * units, units + n_x)`` (gate blocks stacked by
rows, in the order listed by ``GATES``) and one ``bias`` of shape ``(G * units,)``. Keras works
with row vectors, so the code computes ``[a, x] @ W.T``; the two are the same numbers.

Each cell splits its step in two so that :class:`Recurrent` can hoist work out of the loop:

- ``project_inputs(x)``: ``x @ W_x.T + b`` for all gates; works on ``(batch, n_x)`` or on a
  whole ``(batch, T, n_x)`` sequence at once;
- ``step(xw, states, weights)``: the recurrent part of one time step, given the projected
  input ``xw`` and ``weights = recurrent_weights()`` (the transposed ``W_a`` blocks).

``call`` is simply ``step(project_inputs(x), states, recurrent_weights())``.
"""

from __future__ import annotations

import keras
from keras import ops

from nlp_tasks.errors import UserError

INITIAL_STATE_MODES = ("zeros", "random", "learned")


class _StackedKernelInitializer:
    """Initialise a ``(G*units, units+n_x)`` kernel one gate block at a time.

    The recurrent block ``W_ga`` (units, units) gets ``recurrent_initializer`` (orthogonal by
    default, as in Keras) and the input block ``W_gx`` (units, n_x) gets ``kernel_initializer``
    (Glorot uniform by default).
    """

    def __init__(self, units, n_gates, kernel_initializer, recurrent_initializer):
        self.units, self.n_gates = units, n_gates
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer

    def __call__(self, shape, dtype=None):
        units = self.units
        n_x = shape[1] - units
        blocks = []
        for _ in range(self.n_gates):
            w_a = self.recurrent_initializer((units, units), dtype=dtype)  # (units, units)
            # Glorot/He read fans from the last two axes; draw (n_x, units) as Keras does, then transpose.
            w_x = ops.transpose(self.kernel_initializer((n_x, units), dtype=dtype))  # (units, n_x)
            blocks.append(ops.concatenate([w_a, w_x], axis=1))
        return ops.concatenate(blocks, axis=0)


class RecurrentCell(keras.layers.Layer):
    """Shared plumbing: argument checks, the stacked kernel, bias, initial state a<0>.

    Args:
        units: size ``n_a`` of the activation ``a<t>``.
        initial_state_mode: ``"zeros"`` (a<0> = 0, the default), ``"learned"`` (a trainable
            vector, shared by every sequence) or ``"random"`` (a fixed vector drawn once from
            ``N(0, initial_state_stddev^2)`` when the layer is built, saved with the weights).
        initial_state_stddev: spread of the ``"random"`` initial state.
        kernel_initializer: for the input blocks ``W_gx``.
        recurrent_initializer: for the recurrent blocks ``W_ga``.
        bias_initializer: for ``b``.
    """

    GATES: tuple[str, ...] = ()
    N_STATES = 1

    def __init__(
        self,
        units: int,
        initial_state_mode: str = "zeros",
        initial_state_stddev: float = 0.1,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise UserError(f"{type(self).__name__}: units must be a positive integer, got {units!r}")
        if initial_state_mode not in INITIAL_STATE_MODES:
            raise UserError(
                f"{type(self).__name__}: initial_state_mode must be one of "
                f"{', '.join(INITIAL_STATE_MODES)}, got {initial_state_mode!r}"
            )
        if not float(initial_state_stddev) >= 0:
            raise UserError(f"initial_state_stddev must be >= 0, got {initial_state_stddev!r}")
        self.units = units
        self.initial_state_mode = initial_state_mode
        self.initial_state_stddev = float(initial_state_stddev)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.state_size = units if self.N_STATES == 1 else [units] * self.N_STATES
        self.output_size = units

    @property
    def n_gates(self) -> int:
        return len(self.GATES)

    def build(self, input_shape):
        n_x = input_shape[-1]
        if n_x is None:
            raise UserError(f"{type(self).__name__} needs a known input size, got shape {input_shape}")
        self.input_dim = int(n_x)
        g, units = self.n_gates, self.units
        self.kernel = self.add_weight(
            name="kernel",
            shape=(g * units, units + self.input_dim),  # rows: gates; columns: [a<t-1> | x<t>]
            initializer=_StackedKernelInitializer(units, g, self.kernel_initializer, self.recurrent_initializer),
        )
        self.bias = self.add_weight(name="bias", shape=(g * units,), initializer=self._bias_initializer)
        self._build_extra_weights()
        if self.initial_state_mode != "zeros":
            shape = (self.N_STATES, units)  # one row per state tensor (a, and c for the LSTM)
            if self.initial_state_mode == "learned":
                init = "zeros"
            else:
                init = keras.initializers.RandomNormal(stddev=self.initial_state_stddev)
            self.initial_state_weight = self.add_weight(
                name="initial_state", shape=shape, initializer=init,
                trainable=self.initial_state_mode == "learned",
            )
        self.built = True

    def _bias_initializer(self, shape, dtype=None):
        return self.bias_initializer(shape, dtype=dtype)

    def _build_extra_weights(self):
        pass

    # -- the two halves of a step --------------------------------------------------------
    def input_weights(self):
        """``(W_x.T, b)``: (n_x, G*units) and (G*units,), the input half of every gate."""
        return ops.transpose(self.kernel[:, self.units:]), ops.convert_to_tensor(self.bias)

    def project_inputs(self, inputs, weights=None):
        """``x @ W_x.T + b`` for every gate: ``(..., n_x) -> (..., G*units)``."""
        w_x_t, b = weights if weights is not None else self.input_weights()
        return ops.matmul(inputs, w_x_t) + b

    def recurrent_weights(self):
        """Tensors the step needs besides its inputs; computed once per sequence by Recurrent."""
        return (ops.transpose(self.kernel[:, : self.units]),)  # W_a.T: (units, G*units)

    def step(self, xw, states, weights):
        raise NotImplementedError

    def call(self, inputs, states, training=False):
        return self.step(self.project_inputs(inputs), states, self.recurrent_weights())

    # -- a<0> ---------------------------------------------------------------------------
    def get_initial_state(self, batch_size=None):
        if self.initial_state_mode == "zeros":
            states = [ops.zeros((batch_size, self.units), dtype=self.compute_dtype) for _ in range(self.N_STATES)]
        else:
            init = ops.cast(self.initial_state_weight, self.compute_dtype)
            states = [ops.broadcast_to(init[i][None, :], (batch_size, self.units)) for i in range(self.N_STATES)]
        return states[0] if self.N_STATES == 1 else states

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            initial_state_mode=self.initial_state_mode,
            initial_state_stddev=self.initial_state_stddev,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            recurrent_initializer=keras.initializers.serialize(self.recurrent_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config


def _state(states):
    return states[0] if isinstance(states, (list, tuple)) else states


@keras.saving.register_keras_serializable(package="nlp_tasks")
class RNNCell(RecurrentCell):
    """Elman RNN: ``a<t> = g(W_a [a<t-1>, x<t>] + b_a)``, ``g`` = tanh or relu.

    ``kernel`` is ``W_a = [W_aa | W_ax]`` of shape ``(units, units + n_x)``.
    """

    GATES = ("a",)
    ACTIVATIONS = ("tanh", "relu")

    def __init__(self, units, activation: str = "tanh", **kwargs):
        if activation not in self.ACTIVATIONS:
            raise UserError(f"RNNCell: activation must be tanh or relu, got {activation!r}")
        super().__init__(units, **kwargs)
        self.activation = activation

    def step(self, xw, states, weights):
        a_prev = _state(states)  # (batch, units)
        (w_a_t,) = weights  # (units, units)
        z = xw + ops.matmul(a_prev, w_a_t)  # W_ax x<t> + b_a + W_aa a<t-1>
        a = ops.tanh(z) if self.activation == "tanh" else ops.relu(z)
        return a, [a]

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


@keras.saving.register_keras_serializable(package="nlp_tasks")
class GRUCell(RecurrentCell):
    """Full GRU with update gate Γu and relevance (reset) gate Γr; ``a<t> = c<t>``.

    Classic form (Cho et al. 2014, ``reset_after=False``)::

        Γu   = σ(W_u [c<t-1>, x<t>] + b_u)
        Γr   = σ(W_r [c<t-1>, x<t>] + b_r)
        c~<t> = tanh(W_c [Γr * c<t-1>, x<t>] + b_c)
        c<t> = Γu * c~<t> + (1 - Γu) * c<t-1>

    ``reset_after=True`` (the form Keras and cuDNN use) applies Γr after the recurrent product:
    ``c~<t> = tanh(W_cx x<t> + b_c + Γr * (W_cc c<t-1> + b_cr))``, with a separate recurrent
    bias ``b_cr`` (weight ``candidate_recurrent_bias``).

    Kernel rows: ``[W_u; W_r; W_c]``. Note Keras' own GRU writes ``h = z*h_prev + (1-z)*h~``,
    so its ``z`` is our ``1 - Γu``; :mod:`nlp_tasks.layers.convert` maps one onto the other.
    """

    GATES = ("u", "r", "c")

    def __init__(self, units, reset_after: bool = True, **kwargs):
        if not isinstance(reset_after, bool):
            raise UserError(f"GRUCell: reset_after must be True or False, got {reset_after!r}")
        super().__init__(units, **kwargs)
        self.reset_after = reset_after

    def _build_extra_weights(self):
        if self.reset_after:
            self.candidate_recurrent_bias = self.add_weight(
                name="candidate_recurrent_bias", shape=(self.units,), initializer=self.bias_initializer
            )

    def recurrent_weights(self):
        (w_a_t,) = super().recurrent_weights()  # (units, 3*units)
        if self.reset_after:
            return (w_a_t, ops.convert_to_tensor(self.candidate_recurrent_bias))
        u = self.units
        return (w_a_t[:, : 2 * u], w_a_t[:, 2 * u:])  # gates (units, 2u), candidate (units, u)

    def step(self, xw, states, weights):
        c_prev = _state(states)  # (batch, units)
        x_u, x_r, x_c = ops.split(xw, 3, axis=-1)  # each (batch, units)
        if self.reset_after:
            w_a_t, b_cr = weights
            rec_u, rec_r, rec_c = ops.split(ops.matmul(c_prev, w_a_t), 3, axis=-1)  # W_a c<t-1>
            gamma_u = ops.sigmoid(x_u + rec_u)
            gamma_r = ops.sigmoid(x_r + rec_r)
            c_tilde = ops.tanh(x_c + gamma_r * (rec_c + b_cr))
        else:
            w_ur_t, w_cc_t = weights
            rec_u, rec_r = ops.split(ops.matmul(c_prev, w_ur_t), 2, axis=-1)
            gamma_u = ops.sigmoid(x_u + rec_u)
            gamma_r = ops.sigmoid(x_r + rec_r)
            c_tilde = ops.tanh(x_c + ops.matmul(gamma_r * c_prev, w_cc_t))
        c = gamma_u * c_tilde + (1.0 - gamma_u) * c_prev
        return c, [c]

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


@keras.saving.register_keras_serializable(package="nlp_tasks")
class MinimalGRUCell(RecurrentCell):
    """Simplified GRU, update gate only (the course's first GRU; ``a<t> = c<t>``)::

        Γu    = σ(W_u [c<t-1>, x<t>] + b_u)
        c~<t> = tanh(W_c [c<t-1>, x<t>] + b_c)
        c<t>  = Γu * c~<t> + (1 - Γu) * c<t-1>

    Kernel rows: ``[W_u; W_c]``.
    """

    GATES = ("u", "c")

    def step(self, xw, states, weights):
        c_prev = _state(states)  # (batch, units)
        (w_a_t,) = weights
        z_u, z_c = ops.split(xw + ops.matmul(c_prev, w_a_t), 2, axis=-1)  # (batch, units) each
        gamma_u = ops.sigmoid(z_u)
        c_tilde = ops.tanh(z_c)
        c = gamma_u * c_tilde + (1.0 - gamma_u) * c_prev
        return c, [c]


@keras.saving.register_keras_serializable(package="nlp_tasks")
class LSTMCell(RecurrentCell):
    """LSTM with update (input), forget and output gates; memory c<t> kept apart from a<t>::

        Γu    = σ(W_u [a<t-1>, x<t>] + b_u)
        Γf    = σ(W_f [a<t-1>, x<t>] + b_f)
        c~<t> = tanh(W_c [a<t-1>, x<t>] + b_c)
        Γo    = σ(W_o [a<t-1>, x<t>] + b_o)
        c<t>  = Γu * c~<t> + Γf * c<t-1>
        a<t>  = Γo * tanh(c<t>)

    Kernel rows ``[W_u; W_f; W_c; W_o]`` (Keras' i, f, c, o order). States ``[a, c]``.
    ``unit_forget_bias=True`` starts ``b_f`` at 1, as Keras does (Jozefowicz et al. 2015).
    """

    GATES = ("u", "f", "c", "o")
    N_STATES = 2

    def __init__(self, units, unit_forget_bias: bool = True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_initializer(self, shape, dtype=None):
        bias = self.bias_initializer(shape, dtype=dtype)
        if not self.unit_forget_bias:
            return bias
        u = self.units
        return ops.concatenate([bias[:u], ops.ones((u,), dtype=dtype), bias[2 * u:]])

    def step(self, xw, states, weights):
        a_prev, c_prev = states[0], states[1]  # (batch, units) each
        (w_a_t,) = weights
        z_u, z_f, z_c, z_o = ops.split(xw + ops.matmul(a_prev, w_a_t), 4, axis=-1)  # (batch, units) each
        gamma_u = ops.sigmoid(z_u)
        gamma_f = ops.sigmoid(z_f)
        c_tilde = ops.tanh(z_c)
        gamma_o = ops.sigmoid(z_o)
        c = gamma_u * c_tilde + gamma_f * c_prev
        a = gamma_o * ops.tanh(c)
        return a, [a, c]

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}
