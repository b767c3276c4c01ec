"""Backpropagation through time written out by hand, for training our GRU, LSTM and RNN faster.

Differentiating a ``tf.while_loop`` automatically gives a correct but wasteful backward pass:
TensorFlow stacks every intermediate of every step, replays the step's graph backwards op by op,
and accumulates the weight gradient ``dW_a`` with one small ``(units, batch) @ (batch, G*units)``
product *per time step*. This module runs the recurrence under :func:`tf.custom_gradient` with
the backward pass of the course's BPTT equations instead (the same ones as
:func:`nlp_tasks.reference.backward`):

- the forward loop keeps only the gate activations of each step (one ``(batch, k*units)`` slice);
- the backward loop does one product per step, ``dz<t> @ W_a``, the part that truly is
  sequential, plus a few elementwise operations;
- the weight gradient is one large product after the loop, ``A_prev.T @ dZ`` over all
  ``T * batch`` rows at once, far more efficient on a CPU than many small ones (see
  benchmarks/NOTES.md); the input projection's gradients
  (done by :class:`~nlp_tasks.layers.Recurrent` before the loop) are large products too.

This is how cuDNN and oneDNN organise their RNN kernels. It computes the same gradients as
automatic differentiation; ``tests/nlp_tasks/layers/test_layers_reference.py`` checks it against the NumPy
reference, against the automatic version, and numerically.

Semantics follow Keras' backend time loop (:func:`nlp_tasks._keras_compat.backend_rnn`,
time-major): ``go_backwards`` reverses the inputs and the mask, outputs come in processing
order, a masked step keeps the previous states and repeats the previous output (or gives zeros
with ``zero_output_for_mask``).
"""

from __future__ import annotations

import tensorflow as tf

SUPPORTED = ("rnn_tanh", "rnn_relu", "gru", "lstm")


def _previous(sequence, first):
    """``[first, s<0>, ..., s<T-2>]``: the state each step started from."""
    return tf.concat([first[None], sequence[:-1]], axis=0)


# -- the three cells: one forward step and one backward step each ------------------------------
# forward(x, states, w_t, extra) -> (new_states, saved); the output of a step is new_states[0].
# backward(g, saved, prev_states, extra) -> (dz_x, dz_rec, d_prev_direct, kept): g holds the
# gradient of the loss with respect to each new state; dz_x is the gradient of the input
# projection (batch, G*units) and dz_rec that of the recurrent product a<t-1> @ W_a.T (the same
# tensor except for the GRU's candidate block); d_prev_direct is the gradient reaching the
# previous states other than through the recurrent product (that one, dz_rec @ W_a, the driver
# adds); kept is a per-step tensor the driver stacks (the GRU's b_cr gradient), or None.


def _rnn_functions(activation):
    act = tf.tanh if activation == "tanh" else tf.nn.relu

    def forward(x, states, w_t, extra):
        a = act(x + tf.matmul(states[0], w_t))
        return (a,), a

    def backward(g, saved, prev, extra):
        (ga,) = g
        if activation == "tanh":
            dz = ga * (1.0 - saved * saved)
        else:
            dz = tf.where(saved > 0, ga, tf.zeros_like(ga))
        return dz, dz, (tf.zeros_like(ga),), None

    return forward, backward


def _gru_forward(x, states, w_t, extra):
    (h,) = states
    (b_cr,) = extra
    units = h.shape[-1]
    x_ur, x_c = tf.split(x, [2 * units, units], axis=-1)
    rec_ur, rec_c = tf.split(tf.matmul(h, w_t), [2 * units, units], axis=-1)
    ur = tf.sigmoid(x_ur + rec_ur)  # [Γu | Γr]
    u, r = tf.split(ur, 2, axis=-1)
    hc = rec_c + b_cr  # W_cc c<t-1> + b_cr
    n = tf.tanh(x_c + r * hc)  # c~<t>
    h_new = h + u * (n - h)  # Γu * c~ + (1 - Γu) * c<t-1>
    return (h_new,), tf.concat([ur, n, hc], axis=-1)


def _gru_backward(g, saved, prev, extra):
    (gh,) = g
    (h,) = prev
    u, r, n, hc = tf.split(saved, 4, axis=-1)
    dn = gh * u
    du = gh * (n - h)
    dzn = dn * (1.0 - n * n)
    dzu = du * u * (1.0 - u)
    dzr = dzn * hc * r * (1.0 - r)
    d_hc = dzn * r  # Γr multiplies the recurrent candidate product (reset after it)
    # The input side and the recurrent side differ only in the candidate block; that block of
    # the recurrent side is also the gradient of b_cr, so it is returned to be kept.
    return (tf.concat([dzu, dzr, dzn], axis=-1), tf.concat([dzu, dzr, d_hc], axis=-1),
            (gh * (1.0 - u),), d_hc)


def _lstm_forward(x, states, w_t, extra):
    a, c = states
    units = a.shape[-1]
    z = x + tf.matmul(a, w_t)
    z_uf, z_c, z_o = tf.split(z, [2 * units, units, units], axis=-1)
    uf = tf.sigmoid(z_uf)
    g = tf.tanh(z_c)
    o = tf.sigmoid(z_o)
    gamma_u, gamma_f = tf.split(uf, 2, axis=-1)
    c_new = gamma_u * g + gamma_f * c
    tc = tf.tanh(c_new)
    return (o * tc, c_new), tf.concat([uf, g, o, tc], axis=-1)


def _lstm_backward(g, saved, prev, extra):
    ga, gc = g
    _, c_prev = prev
    u, f, cand, o, tc = tf.split(saved, 5, axis=-1)
    do = ga * tc
    dc = gc + ga * o * (1.0 - tc * tc)
    dz = tf.concat([dc * cand * u * (1.0 - u), dc * c_prev * f * (1.0 - f),
                    dc * u * (1.0 - cand * cand), do * o * (1.0 - o)], axis=-1)
    return dz, dz, (tf.zeros_like(ga), dc * f), None


def _cell_functions(kind):
    if kind in ("rnn_tanh", "rnn_relu"):
        return _rnn_functions(kind[4:])
    if kind == "gru":
        return _gru_forward, _gru_backward
    if kind == "lstm":
        return _lstm_forward, _lstm_backward
    raise ValueError(f"no hand-written BPTT for {kind!r}; supported: {', '.join(SUPPORTED)}")


def run(kind, xw, initial_states, w_t, extra=(), mask=None, go_backwards=False, zero_output_for_mask=False):
    """Run the recurrence over projected inputs and return ``(last_output, outputs, states)``.

    Args:
        kind: ``rnn_tanh``, ``rnn_relu``, ``gru`` (the ``reset_after`` form) or ``lstm``.
        xw: ``(T, batch, G*units)``, the input products ``x<t> @ W_x.T + b`` of every step.
        initial_states: list of ``(batch, units)`` tensors (``[a]``, or ``[a, c]`` for the LSTM).
        w_t: ``W_a.T``, ``(units, G*units)``.
        extra: the GRU's ``(b_cr,)``; empty otherwise.
        mask: ``(T, batch)`` booleans or None.
    The gradients with respect to ``xw``, ``initial_states``, ``w_t`` and ``extra`` come from
    the hand-written backward pass.
    """
    forward, backward = _cell_functions(kind)
    n_states = len(initial_states)
    if go_backwards:
        xw = tf.reverse(xw, [0])
        mask = None if mask is None else tf.reverse(mask, [0])
    masked = mask is not None
    if masked:
        mask = tf.cast(mask, tf.bool)[:, :, None]  # (T, batch, 1)
    # Plain tensors (a Keras variable passed through would count as a captured variable).
    w_t, extra = tf.identity(w_t), tuple(tf.identity(e) for e in extra)

    @tf.custom_gradient
    def recurrence(xw, w_t, *rest):
        states0, extra_t = tuple(rest[:n_states]), tuple(rest[n_states:])
        steps = tf.shape(xw)[0]
        xs = tf.TensorArray(xw.dtype, size=steps, infer_shape=True).unstack(xw)
        masks = tf.TensorArray(tf.bool, size=steps).unstack(mask) if masked else None
        # a<t> for every step (the outputs, and a<t-1> for the weight gradient) and, for the other
        # states (the LSTM's c), the value each step started from; the saved gates stay in their
        # list for the backward loop to read, never stacked.
        a_ta = tf.TensorArray(xw.dtype, size=steps, element_shape=states0[0].shape)
        prev_tas = tuple(tf.TensorArray(xw.dtype, size=steps, element_shape=s.shape, clear_after_read=False)
                         for s in states0[1:])
        out_ta = tf.TensorArray(xw.dtype, size=steps, element_shape=states0[0].shape) if masked else None
        saved_ta = tf.TensorArray(xw.dtype, size=steps, clear_after_read=False)

        def body(t, states, prev_out, a_ta, prev_tas, out_ta, saved_ta):
            new_states, saved = forward(xs.read(t), states, w_t, extra_t)
            prev_tas = tuple(ta.write(t, s) for ta, s in zip(prev_tas, states[1:]))
            if masked:
                m = masks.read(t)
                out = tf.where(m, new_states[0], tf.zeros_like(prev_out) if zero_output_for_mask else prev_out)
                new_states = tuple(tf.where(m, s_new, s) for s_new, s in zip(new_states, states))
                out_ta = out_ta.write(t, out)
                prev_out = out
            return t + 1, new_states, prev_out, a_ta.write(t, new_states[0]), prev_tas, out_ta, saved_ta.write(t, saved)

        out_ta_init = out_ta if masked else tf.zeros((), xw.dtype)
        _, final_states, _, a_ta, prev_tas, out_ta, saved_ta = tf.while_loop(
            lambda t, *_: t < steps, body,
            (tf.constant(0), states0, tf.zeros_like(states0[0]), a_ta, prev_tas, out_ta_init, saved_ta),
        )
        a_seq = a_ta.stack()
        outputs = out_ta.stack() if masked else a_seq

        def grad(d_outputs, *d_final):
            d_final = [tf.zeros_like(s) if d is None else d for d, s in zip(d_final, final_states)]
            d_outputs = tf.zeros_like(outputs) if d_outputs is None else d_outputs
            a_prev = _previous(a_seq, states0[0])  # (T, batch, units)
            d_out_ta = tf.TensorArray(xw.dtype, size=steps).unstack(d_outputs)
            a_prev_read = tf.TensorArray(xw.dtype, size=steps).unstack(a_prev)
            masks_back = tf.TensorArray(tf.bool, size=steps).unstack(mask) if masked else None
            w = tf.transpose(w_t)  # (G*units, units)
            dz_ta = tf.TensorArray(xw.dtype, size=steps)
            kept_ta = tf.TensorArray(xw.dtype, size=steps)

            def back(t, d_states, d_out_carry, dz_ta, kept_ta):
                d_out = d_out_ta.read(t) + d_out_carry
                if masked:
                    m = masks_back.read(t)
                    zero = tf.zeros_like(d_out)
                    g = (tf.where(m, d_out + d_states[0], zero),) + tuple(
                        tf.where(m, d, tf.zeros_like(d)) for d in d_states[1:])
                    kept = tuple(tf.where(m, tf.zeros_like(d), d) for d in d_states)
                    d_out_carry = zero if zero_output_for_mask else tf.where(m, zero, d_out)
                else:
                    g = (d_out + d_states[0],) + tuple(d_states[1:])
                prev = (a_prev_read.read(t),) + tuple(ta.read(t) for ta in prev_tas)
                dz, dz_rec, d_prev, keep = backward(g, saved_ta.read(t), prev, extra_t)
                d_prev = (d_prev[0] + tf.matmul(dz_rec, w),) + tuple(d_prev[1:])
                if masked:
                    d_prev = tuple(d + k for d, k in zip(d_prev, kept))
                if keep is not None:
                    kept_ta = kept_ta.write(t, keep)
                return t - 1, d_prev, d_out_carry, dz_ta.write(t, dz), kept_ta

            _, d_states0, _, dz_ta, kept_ta = tf.while_loop(
                lambda t, *_: t >= 0, back,
                (steps - 1, tuple(d_final), tf.zeros_like(d_final[0]), dz_ta, kept_ta),
            )
            d_xw = dz_ta.stack()  # (T, batch, G*units)
            if kind == "gru":
                d_hc = kept_ta.stack()  # (T, batch, units): the candidate block of the recurrent side
                units = d_hc.shape[-1]
                d_rec = tf.concat([d_xw[..., : 2 * units], d_hc], axis=-1)
                d_extra = (tf.reduce_sum(d_hc, axis=[0, 1]),)
            else:
                d_rec, d_extra = d_xw, ()
            units = w_t.shape[0]
            d_w_t = tf.matmul(tf.reshape(a_prev, [-1, units]), tf.reshape(d_rec, [-1, d_rec.shape[-1]]),
                              transpose_a=True)
            return (d_xw, d_w_t) + tuple(d_states0) + d_extra

        return (outputs,) + tuple(final_states), grad

    results = recurrence(xw, w_t, *initial_states, *extra)
    outputs, final_states = results[0], list(results[1:])
    return outputs[-1], outputs, final_states
