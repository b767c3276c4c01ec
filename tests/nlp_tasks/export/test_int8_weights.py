"""The weights an int8 ONNX export's dynamic quantisation leaves float (the output layer's, those
a loop reads without a quantised product: the NADE head's) are stored as int8 with a scale per
column and dequantised once per call in the main graph (:func:`nlp_tasks.export.int8.dequantized_weights`):
a hand-made graph with a weight in the main graph and one inside a ``Loop`` body gives the float
graph's outputs within the int8 rounding, and small weights stay float."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _graph(outer, inner, small):
    """``y = Loop(3 steps: h <- tanh(h @ inner)) (x @ outer) @ small``."""
    from onnx import TensorProto, helper, numpy_helper

    body = helper.make_graph(
        [helper.make_node("MatMul", ["h_in", "inner"], ["hw"]), helper.make_node("Tanh", ["hw"], ["h_out"]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [None, inner.shape[0]])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [None, inner.shape[0]])],
        initializer=[numpy_helper.from_array(inner, "inner")])
    nodes = [helper.make_node("MatMul", ["x", "outer"], ["h0"]),
             helper.make_node("Loop", ["steps", "true", "h0"], ["h"], body=body),
             helper.make_node("MatMul", ["h", "small"], ["y"])]
    graph = helper.make_graph(
        nodes, "main", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, outer.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, small.shape[1]])],
        initializer=[numpy_helper.from_array(outer, "outer"), numpy_helper.from_array(small, "small"),
                     numpy_helper.from_array(np.array(3, np.int64), "steps"),
                     numpy_helper.from_array(np.array(True), "true")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model, x, level=None):
    options = ort.SessionOptions()
    if level is not None:
        options.graph_optimization_level = level
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_weights_left_float_become_int8_dequantised_once_in_the_main_graph():
    from onnx import numpy_helper

    from nlp_tasks.export.int8 import dequantized_weights, onnx_weights

    rng = np.random.default_rng(0)
    outer = rng.normal(0, 0.3, (40, 32)).astype(np.float32)   # 1,280 values: stored as int8
    inner = rng.normal(0, 0.2, (32, 32)).astype(np.float32)   # 1,024 values, inside the loop: int8
    small = rng.normal(0, 0.3, (32, 4)).astype(np.float32)    # 128 values: left float
    model = _graph(outer, inner, small)
    x = rng.normal(0, 1, (5, 40)).astype(np.float32)
    expected = _run(model, x)
    assert dequantized_weights(model) == 2
    onnx.checker.check_model(model)
    body = next(a.g for n in model.graph.node if n.op_type == "Loop" for a in n.attribute if a.HasField("g"))
    assert not body.initializer and "DequantizeLinear" not in {n.op_type for n in body.node}
    assert [n.op_type for n in model.graph.node].count("DequantizeLinear") == 2
    assert onnx_weights(model) == {"int8": 2, "float": ["small"]}
    got = _run(model, x)
    np.testing.assert_allclose(got, expected, atol=0.1)  # int8 rounding through 40 inputs and 3 steps
    assert not np.array_equal(got, expected)  # the weights were rounded, not kept
    stored = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert stored["outer_int8"].dtype == np.int8 and stored["outer_int8_scale"].shape == (32,)  # a scale per column

    def rounded(w):  # symmetric int8 with a scale per column, as the pass stores it
        scale = np.abs(w).max(axis=0) / 127
        return (np.clip(np.round(w / scale), -127, 127) * scale).astype(np.float32)

    # A row of huge values (an all-padding row's fill value reaching the output layer) changes no
    # other row's outputs: the reason quantize_onnx keeps the output layer out of the dynamic
    # quantisation of activations, whose one scale per batch it would set.
    huge = np.concatenate([x, np.full((1, 40), 3e4, np.float32)])
    np.testing.assert_allclose(_run(model, huge)[:5], got, rtol=1e-5, atol=1e-6)
    # Without ONNX Runtime's fusions the graph computes with exactly the rounded weights; its default
    # optimisation turns the main graph's DequantizeLinear + MatMul into MatMulNBits (int8 weights, the
    # activations quantised per row and block), hence the looser comparison above.
    basic = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    np.testing.assert_allclose(_run(model, x, basic), _run(_graph(rounded(outer), rounded(inner), small), x, basic),
                               rtol=1e-5, atol=1e-6)
