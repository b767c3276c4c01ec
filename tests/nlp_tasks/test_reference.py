"""The NumPy reference's hand-derived BPTT gradients against central finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from nlp_tasks import reference as ref

KINDS = ["rnn", "rnn_relu", "gru", "gru_reset_after", "mingru", "lstm"]
GATES = {"rnn": "a", "gru": "urc", "gru_reset_after": "urc", "mingru": "uc", "lstm": "ufco"}


def make_problem(kind, output, seed=0, n_x=3, n_a=4, n_y=5, m=2, T=4):
    rng = np.random.default_rng(seed)
    base = kind.replace("_relu", "")
    params = {}
    for g in GATES[base]:
        params[f"W{g}"] = rng.normal(0, 0.5, (n_a, n_a + n_x))
        params[f"b{g}"] = rng.normal(0, 0.1, (n_a, 1))
    if base == "gru_reset_after":
        params["bcr"] = rng.normal(0, 0.1, (n_a, 1))
    params["Wy"] = rng.normal(0, 0.5, (n_y, n_a))
    params["by"] = rng.normal(0, 0.1, (n_y, 1))
    x = rng.normal(0, 1, (n_x, m, T))
    n_states = 2 if base == "lstm" else 1
    state0 = tuple(rng.normal(0, 0.5, (n_a, m)) for _ in range(n_states))
    if output == "softmax":
        y = np.zeros((n_y, m, T))
        labels = rng.integers(0, n_y, (m, T))
        for i in range(m):
            for t in range(T):
                y[labels[i, t], i, t] = 1.0
    else:
        y = (rng.random((n_y, m, T)) < 0.3).astype(float)
    options = {"activation": "relu"} if kind == "rnn_relu" else {}
    return base, x, y, state0, params, options


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
@pytest.mark.parametrize("kind", KINDS)
def test_bptt_matches_finite_differences(kind, output):
    base, x, y, state0, params, options = make_problem(kind, output)
    if kind == "rnn_relu":  # keep pre-activations away from the kink at 0
        params["ba"] += 0.3

    def loss():
        return ref.loss_and_gradients(base, x, y, state0, params, output=output, **options)[0]

    _, grads = ref.loss_and_gradients(base, x, y, state0, params, output=output, **options)
    checks = {name: params[name] for name in params}
    checks["x"] = x
    for i, s in enumerate(state0):
        checks[f"state0_{i}"] = s
    for name, value in checks.items():
        numeric = ref.numerical_gradient(loss, value)
        analytic = grads["state0"][int(name[-1])] if name.startswith("state0") else grads[name]
        rel = np.linalg.norm(numeric - analytic) / max(np.linalg.norm(numeric) + np.linalg.norm(analytic), 1e-12)
        assert rel < 1e-6, f"{kind}/{output}: d{name} relative error {rel:.2e}"


def test_gru_update_gate_one_copies_candidate_zero_keeps_memory():
    n_a, n_x, m = 3, 2, 1
    p = {g: np.zeros((n_a, n_a + n_x)) for g in ("Wu", "Wr", "Wc")}
    p.update(bu=np.full((n_a, 1), 50.0), br=np.zeros((n_a, 1)), bc=np.full((n_a, 1), 0.5))
    c_prev = np.ones((n_a, m))
    (c,), _ = ref.gru_cell_forward(np.zeros((n_x, m)), (c_prev,), p)
    np.testing.assert_allclose(c, np.tanh(0.5), atol=1e-12)  # Γu≈1: c<t> = c~<t>
    p["bu"][:] = -50.0
    (c,), _ = ref.gru_cell_forward(np.zeros((n_x, m)), (c_prev,), p)
    np.testing.assert_allclose(c, 1.0, atol=1e-12)  # Γu≈0: memory kept


def test_clip_by_norm_keeps_direction_and_clip_by_value_bounds():
    grads = {"a": np.array([3.0, 4.0]), "b": np.array([[0.0, 12.0]])}
    clipped = ref.clip_by_norm(grads, 6.5)
    total = np.sqrt(sum(np.sum(v**2) for v in clipped.values()))
    assert total == pytest.approx(6.5)
    np.testing.assert_allclose(clipped["a"] / grads["a"], 0.5)
    unchanged = ref.clip_by_norm(grads, 100.0)
    np.testing.assert_array_equal(unchanged["b"], grads["b"])
    by_value = ref.clip_by_value(grads, 3.5)
    np.testing.assert_array_equal(by_value["a"], [3.0, 3.5])
    np.testing.assert_array_equal(by_value["b"], [[0.0, 3.5]])


def test_unknown_reference_cell_is_refused():
    with pytest.raises(ValueError, match="unknown reference cell"):
        ref.forward("transformer", np.zeros((1, 1, 1)), (np.zeros((1, 1)),), {})
