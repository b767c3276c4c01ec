"""The attention layer against the NumPy reference, the reference against central differences,
masking, one query against a sequence of queries (and a tf.while_loop), save and load."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_tasks import reference as ref
from nlp_tasks.errors import UserError
from nlp_tasks.layers import ATTENTION_KINDS, Attention
from nlp_tasks.layers.convert import attention_to_reference

N_S, N_H, UNITS, T_X, T_Y = 4, 3, 5, 6, 3
LENGTHS = [6, 4, 1, 0]  # a full row, padded tails of different lengths, a row of padding only


def make_layer(kind, rng, dtype="float64"):
    layer = Attention(kind, units=UNITS if kind == "additive" else None, dtype=dtype)
    layer.build((None, T_Y, N_S), (None, T_X, N_H))
    layer.set_weights([rng.normal(0, 0.7, w.shape) for w in layer.get_weights()])  # biases too
    return layer


def make_inputs(rng, lengths=LENGTHS):
    m = len(lengths)
    mask = np.arange(T_X)[None, :] < np.array(lengths)[:, None]  # (m, T_x)
    return rng.normal(0, 1, (m, T_Y, N_S)), rng.normal(0, 1, (m, T_X, N_H)), mask


def reference_rows(layer, query, values, mask, upstream_context, upstream_weights):
    """The layer's outputs and gradients computed query by query by the reference, in the layer's
    (batch-first) layout: context, weights, dquery, dvalues, dparams."""
    params = attention_to_reference(layer)
    h = values.transpose(2, 0, 1)  # (n_h, m, T_x)
    contexts, weights, dqueries = [], [], []
    dh, grads = np.zeros_like(h), {name: np.zeros_like(p) for name, p in params.items()}
    for t in range(query.shape[1]):
        context, alpha, cache = ref.attention_forward(query[:, t].T, h, mask, params, layer.kind)
        ds, dh_t, grads_t = ref.attention_backward(upstream_context[:, t].T, upstream_weights[:, t], cache, params,
                                                   layer.kind)
        contexts.append(context.T)
        weights.append(alpha)
        dqueries.append(ds.T)
        dh += dh_t
        for name in grads:
            grads[name] += grads_t[name]
    return (np.stack(contexts, 1), np.stack(weights, 1), np.stack(dqueries, 1), dh.transpose(1, 2, 0), grads)


def layer_gradients(layer, query, values, mask, upstream_context, upstream_weights):
    q, h = tf.constant(query), tf.constant(values)
    with tf.GradientTape() as tape:
        tape.watch([q, h])
        context, weights = layer(q, h, values_mask=tf.constant(mask))
        loss = tf.reduce_sum(context * upstream_context) + tf.reduce_sum(weights * upstream_weights)
    grads = tape.gradient(loss, [q, h, *layer.trainable_weights])
    return context.numpy(), weights.numpy(), *[g.numpy() for g in grads]


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_layer_matches_the_reference_forward_and_gradients(kind):
    rng = np.random.default_rng(0)
    layer = make_layer(kind, rng)
    query, values, mask = make_inputs(rng)
    up_c, up_w = rng.normal(0, 1, (len(LENGTHS), T_Y, N_H)), rng.normal(0, 1, (len(LENGTHS), T_Y, T_X))
    context, weights, dquery, dvalues, *dweights = layer_gradients(layer, query, values, mask, up_c, up_w)
    want = reference_rows(layer, query, values, mask, up_c, up_w)
    for got, expected in zip((context, weights, dquery, dvalues), want[:4]):
        np.testing.assert_allclose(got, expected, atol=1e-12, rtol=1e-10)
    ours = attention_to_reference(layer)  # the same transposition for the weights' gradients
    names = ["Wq", "Wh", "b", "v"] if kind == "additive" else ["W"]
    for name, grad in zip(names, dweights):
        as_reference = grad.T if grad.ndim == 2 else grad[:, None]
        assert as_reference.shape == ours[name].shape
        np.testing.assert_allclose(as_reference, want[4][name], atol=1e-12, rtol=1e-10, err_msg=name)


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_reference_gradients_match_numerical_gradients(kind):
    rng = np.random.default_rng(1)
    m, n_a = len(LENGTHS), UNITS
    params = ({"Wq": rng.normal(0, 0.7, (n_a, N_S)), "Wh": rng.normal(0, 0.7, (n_a, N_H)),
               "b": rng.normal(0, 0.3, (n_a, 1)), "v": rng.normal(0, 0.7, (n_a, 1))}
              if kind == "additive" else {"W": rng.normal(0, 0.7, (N_S, N_H))})
    s, h = rng.normal(0, 1, (N_S, m)), rng.normal(0, 1, (N_H, m, T_X))
    mask = np.arange(T_X)[None, :] < np.array(LENGTHS)[:, None]
    up_c, up_w = rng.normal(0, 1, (N_H, m)), rng.normal(0, 1, (m, T_X))

    def loss():
        context, alpha, _ = ref.attention_forward(s, h, mask, params, kind)
        return float(np.sum(context * up_c) + np.sum(alpha * up_w))

    _, _, cache = ref.attention_forward(s, h, mask, params, kind)
    ds, dh, grads = ref.attention_backward(up_c, up_w, cache, params, kind)
    for name, value, analytic in [("s", s, ds), ("h", h, dh), *[(k, params[k], grads[k]) for k in params]]:
        numeric = ref.numerical_gradient(loss, value)
        rel = np.linalg.norm(numeric - analytic) / max(np.linalg.norm(numeric) + np.linalg.norm(analytic), 1e-12)
        assert rel < 1e-7, f"{kind}: d{name} relative error {rel:.2e}"
    assert np.all(dh[:, ~mask] == 0.0), "padding takes no gradient"


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_one_query_at_a_time_gives_the_rows_of_a_query_sequence(kind):
    """The same weights serve teacher forcing (every target step at once) and decoding (keys once,
    then one attend per step, here in a tf.while_loop inside a compiled graph)."""
    rng = np.random.default_rng(2)
    layer = make_layer(kind, rng)
    query, values, mask = make_inputs(rng)
    context, weights = (x.numpy() for x in layer(query, values, values_mask=mask))
    for t in range(T_Y):
        one_context, one_weights = layer(query[:, t], values, values_mask=mask)
        assert one_context.shape == (len(LENGTHS), N_H) and one_weights.shape == (len(LENGTHS), T_X)
        np.testing.assert_allclose(one_context.numpy(), context[:, t], atol=1e-14, rtol=0)
        np.testing.assert_allclose(one_weights.numpy(), weights[:, t], atol=1e-14, rtol=0)

    @tf.function
    def decode(query, values, mask):
        keys = layer.keys(values, mask)  # once per source

        def step(t, contexts):
            context, _ = layer.attend(query[:, t], keys, values, mask)
            return t + 1, contexts.write(t, context)

        contexts = tf.TensorArray(values.dtype, size=T_Y)
        _, contexts = tf.while_loop(lambda t, _: t < T_Y, step, (tf.constant(0), contexts))
        return tf.transpose(contexts.stack(), (1, 0, 2))

    np.testing.assert_allclose(decode(tf.constant(query), tf.constant(values), tf.constant(mask)).numpy(), context,
                               atol=1e-14, rtol=0)


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_padding_gets_no_weight_and_what_it_holds_changes_nothing(kind):
    rng = np.random.default_rng(3)
    layer = make_layer(kind, rng)
    query, values, mask = make_inputs(rng)
    up_c, up_w = rng.normal(0, 1, (len(LENGTHS), T_Y, N_H)), rng.normal(0, 1, (len(LENGTHS), T_Y, T_X))
    before = layer_gradients(layer, query, values, mask, up_c, up_w)
    assert np.all(before[1][~np.broadcast_to(mask[:, None, :], before[1].shape)] == 0.0)
    np.testing.assert_allclose(before[1].sum(-1), (np.array(LENGTHS) > 0)[:, None] * np.ones(T_Y), atol=1e-14)
    for filler in (rng.normal(0, 100, values.shape), np.full(values.shape, np.nan), np.full(values.shape, np.inf)):
        changed = np.where(mask[:, :, None], values, filler)
        after = layer_gradients(layer, query, changed, mask, up_c, up_w)
        for got, want in zip(after, before):  # outputs and every gradient, padding's included (0)
            np.testing.assert_array_equal(got, want)
    assert np.all(before[3][~mask] == 0.0)


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_a_source_of_padding_only_gives_a_zero_context_and_no_nan(kind):
    rng = np.random.default_rng(4)
    layer = make_layer(kind, rng)
    query, values, _ = make_inputs(rng, lengths=[0, 0])
    up_c, up_w = rng.normal(0, 1, (2, T_Y, N_H)), rng.normal(0, 1, (2, T_Y, T_X))
    results = layer_gradients(layer, query, values, np.zeros((2, T_X), bool), up_c, up_w)
    assert all(np.isfinite(r).all() for r in results)
    context, weights, dquery, dvalues, *dweights = results
    assert not context.any() and not weights.any() and not dquery.any() and not dvalues.any()
    assert not any(g.any() for g in dweights)
    context, alpha, _ = ref.attention_forward(query[:, 0].T, values.transpose(2, 0, 1), np.zeros((2, T_X)),
                                              attention_to_reference(layer), kind)
    assert not context.any() and not alpha.any()


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_save_and_load_with_safe_mode_gives_the_same_outputs(kind, tmp_path):
    """Source and target ids through embeddings with mask_zero: the source's Keras mask reaches
    ``values_mask`` by itself, and the target's passes on to the context."""
    rng = np.random.default_rng(5)
    source, target = keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")
    values = keras.layers.Embedding(9, N_H, mask_zero=True)(source)
    queries = keras.layers.Embedding(9, N_S, mask_zero=True)(target)
    context, weights = Attention(kind, units=UNITS if kind == "additive" else None, name="attention")(queries, values)
    assert context._keras_mask is not None
    model = keras.Model([source, target], [keras.layers.Dense(2)(context), weights])
    model.set_weights([rng.normal(0, 0.7, w.shape) for w in model.get_weights()])
    ids = [np.array([[1, 2, 3, 0], [4, 0, 0, 0]]), np.array([[5, 6, 0], [7, 8, 1]])]
    before = [np.asarray(x) for x in model(ids)]
    assert np.all(before[1][:, :, 3] == 0.0) and np.all(before[1][1, :, 1:] == 0.0)
    model.save(tmp_path / "attention.keras")
    loaded = keras.saving.load_model(tmp_path / "attention.keras", safe_mode=True)
    assert isinstance(loaded.get_layer("attention"), Attention)
    for got, want in zip(loaded(ids), before):
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-6, rtol=0)
    config = loaded.get_layer("attention").get_config()
    assert (config["kind"], config["units"]) == (kind, UNITS if kind == "additive" else None)
    assert Attention.from_config(config).get_config() == config


def test_additive_units_default_to_the_query_width():
    layer = Attention("additive")
    layer.build((None, N_S), (None, T_X, N_H))
    assert layer.query_kernel.shape == (N_S, N_S) and layer.score_kernel.shape == (N_S,)


@pytest.mark.parametrize("kwargs", [
    {"kind": "dot"}, {"kind": "none"}, {"kind": None}, {"kind": "additive", "units": 0},
    {"kind": "additive", "units": -3}, {"kind": "additive", "units": 2.5}, {"kind": "additive", "units": True},
    {"kind": "additive", "units": "8"}, {"kind": "multiplicative", "units": 8},
])
def test_bad_arguments_are_user_errors(kwargs):
    with pytest.raises(UserError, match="Attention: ") as raised:
        Attention(**kwargs)
    assert "\n" not in str(raised.value) and isinstance(raised.value, ValueError)


def test_the_reference_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown attention kind"):
        ref.attention_forward(np.zeros((2, 1)), np.zeros((2, 1, 3)), np.ones((1, 3)), {}, "dot")
