"""The recurrent cells, BPTT over a sequence, and the softmax / sigmoid output with its loss.

Column vectors, as in :mod:`nlp_tasks.reference`: ``x`` (n_x, m, T_x), ``a`` (n_a, m, T_x); each
gate's ``W_g`` (n_a, n_a + n_x) acts on the stacked column ``[a<t-1>; x<t>]``, biases ``b_g`` are
(n_a, 1). Parameters live in a dict: ``Wa, ba`` (Elman RNN); ``Wu, bu, Wr, br, Wc, bc`` and, for
the reset-after GRU, ``bcr`` (GRU); ``Wu, bu, Wc, bc`` (minimal GRU); ``Wu, bu, Wf, bf, Wc, bc,
Wo, bo`` (LSTM).

A cell's forward step takes ``(x<t>, state<t-1>)`` and returns ``(state<t>, cache)``; ``state``
is the tuple ``(a,)``, or ``(a, c)`` for the LSTM. Its backward step takes the gradient of the
loss with respect to ``state<t>`` and the cache, and returns the gradients with respect to
``x<t>``, ``state<t-1>`` and the parameters. :func:`forward` and :func:`backward` run them over
a sequence; :func:`loss_and_gradients` adds a softmax or sigmoid output layer
``ŷ<t> = g(W_y a<t> + b_y)`` and the cross-entropy loss summed over time steps and examples.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    """Softmax over the first axis (the classes of a column vector)."""
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


# --------------------------------------------------------------------------- Elman RNN
def rnn_cell_forward(xt, state, p, activation="tanh"):
    """a<t> = g(W_a [a<t-1>; x<t>] + b_a)."""
    (a_prev,) = state
    concat = np.concatenate([a_prev, xt], axis=0)  # (n_a + n_x, m)
    z = p["Wa"] @ concat + p["ba"]
    a = np.tanh(z) if activation == "tanh" else np.maximum(z, 0.0)
    return (a,), (concat, z, a)


def rnn_cell_backward(dstate, cache, p, activation="tanh"):
    (da,) = dstate
    concat, z, a = cache
    n_a = a.shape[0]
    dz = da * (1.0 - a**2) if activation == "tanh" else da * (z > 0)  # g'(z)
    dconcat = p["Wa"].T @ dz
    grads = {"Wa": dz @ concat.T, "ba": dz.sum(axis=1, keepdims=True)}
    return dconcat[n_a:], (dconcat[:n_a],), grads


# --------------------------------------------------------------------------- GRU
def gru_cell_forward(xt, state, p, reset_after=False):
    """Full GRU. Classic: c~ = tanh(W_c [Γr*c<t-1>; x<t>] + b_c).

    Reset-after: c~ = tanh(W_cx x<t> + b_c + Γr * (W_cc c<t-1> + b_cr)).
    Then c<t> = Γu * c~ + (1 - Γu) * c<t-1>, a<t> = c<t>.
    """
    (c_prev,) = state
    n_a = c_prev.shape[0]
    concat = np.concatenate([c_prev, xt], axis=0)
    gu = sigmoid(p["Wu"] @ concat + p["bu"])
    gr = sigmoid(p["Wr"] @ concat + p["br"])
    if reset_after:
        hc = p["Wc"][:, :n_a] @ c_prev + p["bcr"]  # recurrent part of the candidate
        cc = np.tanh(p["Wc"][:, n_a:] @ xt + p["bc"] + gr * hc)
        concat_r = hc
    else:
        concat_r = np.concatenate([gr * c_prev, xt], axis=0)
        cc = np.tanh(p["Wc"] @ concat_r + p["bc"])
    c = gu * cc + (1.0 - gu) * c_prev
    return (c,), (xt, c_prev, concat, gu, gr, cc, concat_r)


def gru_cell_backward(dstate, cache, p, reset_after=False):
    (dc,) = dstate
    xt, c_prev, concat, gu, gr, cc, concat_r = cache
    n_a = c_prev.shape[0]
    dcc = dc * gu
    dgu = dc * (cc - c_prev)
    dc_prev = dc * (1.0 - gu)
    dzc = dcc * (1.0 - cc**2)  # through tanh
    grads = {"bc": dzc.sum(axis=1, keepdims=True)}
    if reset_after:
        hc = concat_r
        dhc = dzc * gr
        dgr = dzc * hc
        grads["Wc"] = np.concatenate([dhc @ c_prev.T, dzc @ xt.T], axis=1)
        grads["bcr"] = dhc.sum(axis=1, keepdims=True)
        dxt = p["Wc"][:, n_a:].T @ dzc
        dc_prev = dc_prev + p["Wc"][:, :n_a].T @ dhc
    else:
        grads["Wc"] = dzc @ concat_r.T
        dconcat_r = p["Wc"].T @ dzc
        d_rc = dconcat_r[:n_a]  # gradient of Γr * c<t-1>
        dxt = dconcat_r[n_a:]
        dgr = d_rc * c_prev
        dc_prev = dc_prev + d_rc * gr
    dzu = dgu * gu * (1.0 - gu)  # through σ
    dzr = dgr * gr * (1.0 - gr)
    grads.update(Wu=dzu @ concat.T, bu=dzu.sum(axis=1, keepdims=True),
                 Wr=dzr @ concat.T, br=dzr.sum(axis=1, keepdims=True))
    dconcat = p["Wu"].T @ dzu + p["Wr"].T @ dzr
    return dxt + dconcat[n_a:], (dc_prev + dconcat[:n_a],), grads


# --------------------------------------------------------------------------- minimal GRU
def mingru_cell_forward(xt, state, p):
    """Γu = σ(W_u [c<t-1>; x<t>] + b_u); c~ = tanh(W_c [c<t-1>; x<t>] + b_c);
    c<t> = Γu * c~ + (1 - Γu) * c<t-1>."""
    (c_prev,) = state
    concat = np.concatenate([c_prev, xt], axis=0)
    gu = sigmoid(p["Wu"] @ concat + p["bu"])
    cc = np.tanh(p["Wc"] @ concat + p["bc"])
    c = gu * cc + (1.0 - gu) * c_prev
    return (c,), (concat, c_prev, gu, cc)


def mingru_cell_backward(dstate, cache, p):
    (dc,) = dstate
    concat, c_prev, gu, cc = cache
    n_a = c_prev.shape[0]
    dzu = dc * (cc - c_prev) * gu * (1.0 - gu)
    dzc = dc * gu * (1.0 - cc**2)
    grads = {"Wu": dzu @ concat.T, "bu": dzu.sum(axis=1, keepdims=True),
             "Wc": dzc @ concat.T, "bc": dzc.sum(axis=1, keepdims=True)}
    dconcat = p["Wu"].T @ dzu + p["Wc"].T @ dzc
    return dconcat[n_a:], (dc * (1.0 - gu) + dconcat[:n_a],), grads


# --------------------------------------------------------------------------- LSTM
def lstm_cell_forward(xt, state, p):
    """Γu, Γf, Γo = σ(W_g [a<t-1>; x<t>] + b_g); c~ = tanh(W_c [a<t-1>; x<t>] + b_c);
    c<t> = Γu * c~ + Γf * c<t-1>; a<t> = Γo * tanh(c<t>)."""
    a_prev, c_prev = state
    concat = np.concatenate([a_prev, xt], axis=0)
    gu = sigmoid(p["Wu"] @ concat + p["bu"])
    gf = sigmoid(p["Wf"] @ concat + p["bf"])
    cc = np.tanh(p["Wc"] @ concat + p["bc"])
    go = sigmoid(p["Wo"] @ concat + p["bo"])
    c = gu * cc + gf * c_prev
    tc = np.tanh(c)
    a = go * tc
    return (a, c), (concat, c_prev, gu, gf, cc, go, tc)


def lstm_cell_backward(dstate, cache, p):
    da, dc = dstate
    concat, c_prev, gu, gf, cc, go, tc = cache
    n_a = c_prev.shape[0]
    dgo = da * tc
    dc = dc + da * go * (1.0 - tc**2)  # c<t> reaches the loss directly and through a<t>
    dz = {"u": dc * cc * gu * (1.0 - gu), "f": dc * c_prev * gf * (1.0 - gf),
          "c": dc * gu * (1.0 - cc**2), "o": dgo * go * (1.0 - go)}
    grads, dconcat = {}, 0.0
    for g, d in dz.items():
        grads[f"W{g}"] = d @ concat.T
        grads[f"b{g}"] = d.sum(axis=1, keepdims=True)
        dconcat = dconcat + p[f"W{g}"].T @ d
    return dconcat[n_a:], (dconcat[:n_a], dc * gf), grads


CELLS: dict[str, tuple[Callable, Callable, dict]] = {
    "rnn": (rnn_cell_forward, rnn_cell_backward, {}),
    "gru": (gru_cell_forward, gru_cell_backward, {"reset_after": False}),
    "gru_reset_after": (gru_cell_forward, gru_cell_backward, {"reset_after": True}),
    "mingru": (mingru_cell_forward, mingru_cell_backward, {}),
    "lstm": (lstm_cell_forward, lstm_cell_backward, {}),
}


def _cell(kind):
    if kind not in CELLS:
        raise ValueError(f"unknown reference cell {kind!r}; choose one of {', '.join(CELLS)}")
    return CELLS[kind]


# --------------------------------------------------------------------------- sequences
def forward(kind, x, state0, params, **options):
    """Run a cell over ``x`` (n_x, m, T_x) from ``state0`` (a tuple of (n_a, m) arrays).

    Returns ``(a, caches, final_state)`` with ``a`` of shape (n_a, m, T_x).
    """
    cell_forward, _, fixed = _cell(kind)
    state = tuple(state0)
    n_a, m = state[0].shape
    a = np.zeros((n_a, m, x.shape[2]), dtype=np.result_type(x, state[0]))
    caches = []
    for t in range(x.shape[2]):
        state, cache = cell_forward(x[:, :, t], state, params, **fixed, **options)
        a[:, :, t] = state[0]
        caches.append(cache)
    return a, caches, state


def backward(kind, da, caches, params, **options):
    """BPTT: ``da`` (n_a, m, T_x) is dL/da<t> from the layers above at each time step.

    Walks the steps backwards, adding to each step's incoming gradient the gradient that flows
    back from step t+1 through a<t> (and c<t> for the LSTM). Returns ``(dx, dstate0, grads)``:
    dx (n_x, m, T_x), the gradient with respect to the initial state, and a dict of parameter
    gradients summed over all time steps.
    """
    _, cell_backward, fixed = _cell(kind)
    grads = {name: np.zeros_like(value) for name, value in params.items()}
    dx = None
    n_states = 2 if kind == "lstm" else 1  # (a,) or (a, c)
    dstate = tuple(np.zeros_like(da[:, :, 0]) for _ in range(n_states))
    for t in reversed(range(da.shape[2])):
        dstate = (dstate[0] + da[:, :, t],) + dstate[1:]
        dxt, dstate, step_grads = cell_backward(dstate, caches[t], params, **fixed, **options)
        if dx is None:
            dx = np.zeros(dxt.shape + (da.shape[2],), dtype=dxt.dtype)
        dx[:, :, t] = dxt
        for name, g in step_grads.items():
            grads[name] += g
    return dx, dstate, grads


# --------------------------------------------------------------------------- output + loss
def output_forward(a, Wy, by, output="softmax"):
    """ŷ<t> = softmax(W_y a<t> + b_y) (one class per step) or σ(...) (independent labels)."""
    z = np.einsum("ya,amt->ymt", Wy, a) + by[:, :, None]
    if output == "softmax":
        return np.stack([softmax(z[:, :, t]) for t in range(z.shape[2])], axis=2)
    if output == "sigmoid":
        return sigmoid(z)
    raise ValueError(f"output must be softmax or sigmoid, got {output!r}")


def cross_entropy(y_hat, y, output="softmax"):
    """Loss summed over classes, examples and time steps: -Σ y log ŷ (+ (1-y) log(1-ŷ))."""
    if output == "softmax":
        return float(-np.sum(y * np.log(y_hat)))
    return float(-np.sum(y * np.log(y_hat) + (1.0 - y) * np.log(1.0 - y_hat)))


def loss_and_gradients(kind, x, y, state0, params, output="softmax", **options):
    """Full forward and backward pass of ``cell -> output layer -> cross-entropy``.

    ``params`` holds the cell's weights plus ``Wy`` (n_y, n_a) and ``by`` (n_y, 1); ``y`` is
    (n_y, m, T_x), one-hot for softmax, multi-hot for sigmoid. Returns ``(loss, grads)`` with
    ``grads`` for every parameter plus ``x`` and ``state0`` (a tuple under ``"state0"``).
    """
    cell_params = {k: v for k, v in params.items() if k not in ("Wy", "by")}
    a, caches, _ = forward(kind, x, state0, cell_params, **options)
    y_hat = output_forward(a, params["Wy"], params["by"], output)
    loss = cross_entropy(y_hat, y, output)
    dz = y_hat - y  # both softmax + CE and sigmoid + BCE give ŷ - y
    grads = {"Wy": np.einsum("ymt,amt->ya", dz, a), "by": dz.sum(axis=(1, 2))[:, None]}
    da = np.einsum("ya,ymt->amt", params["Wy"], dz)
    dx, dstate0, cell_grads = backward(kind, da, caches, cell_params, **options)
    grads.update(cell_grads, x=dx, state0=dstate0)
    return loss, grads
